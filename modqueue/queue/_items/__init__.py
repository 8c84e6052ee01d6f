"""Items and ingest: the ingest format and its validation, and storing flagged items."""
