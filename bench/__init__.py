"""Benchmarks: each script runs modqueue side by side with a baseline and prints ratios."""
