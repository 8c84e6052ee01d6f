"""Python's cyclic garbage collector held off while a batch is clustered.

`assign_clusters` builds, for one batch, tens of thousands of short-lived containers
(fetched rows, postings lists, per-item counters, rows to insert) that all die when it
returns. When the collector runs in the middle of it, the survivors of its young
generations (those containers, still in use) are promoted to the oldest generation;
once that has grown by a quarter the collector walks every object the process holds.
In a process holding much (an ingest feeding large batches), that was about a fifth of the
CPU of fingerprinting on the flood corpus (`bench/RESULTS_clusters.md`, `fpingest3`).
Those containers are freed by their reference counts when the call returns; pausing
the collector for the call only delays collections (the next one runs as usual
afterwards, and finds any cycle made meanwhile).

`collector_paused()` nests and works across threads: the collector is disabled by the
first holder and enabled again by the last one, only if it was enabled to begin with.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


class _Pause:
    """How many blocks hold the collector off, and whether it was enabled before."""

    lock = threading.Lock()
    holders = 0
    was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector off inside the block (see the module
    docstring); its state when the outermost block began is restored at its end, also
    when the block raises."""
    with _Pause.lock:
        if _Pause.holders == 0:
            _Pause.was_enabled = gc.isenabled()
            gc.disable()
        _Pause.holders += 1
    try:
        yield
    finally:
        with _Pause.lock:
            _Pause.holders -= 1
            if _Pause.holders == 0 and _Pause.was_enabled:
                gc.enable()
