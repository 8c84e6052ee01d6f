"""`collector_paused` holds the cyclic garbage collector off inside its block and gives
back the state it found, nested, across threads and when the block raises."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from modqueue.queue._items.collector import collector_paused


@pytest.fixture(autouse=True)
def _collector_enabled() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_inside_and_on_again_after() -> None:
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still holds it
    assert gc.isenabled()


def test_a_raising_block_gives_the_collector_back() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_the_last_of_several_threads_enables_it_again() -> None:
    inside = threading.Barrier(3)
    leave = threading.Event()
    states: list[bool] = []

    def hold() -> None:
        with collector_paused():
            inside.wait()
            leave.wait()
            states.append(gc.isenabled())

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert not gc.isenabled()
    leave.set()
    for thread in threads:
        thread.join()
    assert states == [False, False]
    assert gc.isenabled()
