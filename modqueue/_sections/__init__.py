"""Sections of `modqueue.toml` that configure outer layers (Label Studio, the terminal UI).

They live here, not beside the code they configure, so that `modqueue.config` (which
reads the whole file) imports neither the integrations nor the UI.
"""
