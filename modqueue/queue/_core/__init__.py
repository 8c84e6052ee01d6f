"""Shared ground of the queue: column types, the item/decision/outbox/audit tables, the
database engine and migrations, queue naming and priority, quality settings and tables."""
