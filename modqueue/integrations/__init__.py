"""Integrations: sources, Label Studio, platform actions and exports, each in its own
subpackage on top of the domain (`modqueue.queue`)."""
