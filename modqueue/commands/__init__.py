"""Command groups of the `modqueue` command line; `modqueue.cli` assembles them."""
