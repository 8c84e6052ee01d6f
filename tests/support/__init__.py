"""Helpers for the test suite (real servers the tests talk to)."""
