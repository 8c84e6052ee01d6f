"""Claims: leasing one item to one reviewer at a time (claim, renew, release, expire)."""
