"""Audit: the hash-chained audit trail (`chain` appends, `log` reads and verifies)."""
