"""Integrations with the outside world: sources, Label Studio, platform actions, exports."""
