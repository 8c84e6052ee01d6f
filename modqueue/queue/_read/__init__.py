"""Read models: queue statistics, the lead dashboard and the reviewer's queue summaries."""
