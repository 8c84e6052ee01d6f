"""Integrations: sources of flagged items, Label Studio, platform actions, exports."""
