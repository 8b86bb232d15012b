"""The cyclic collector is paused while a cycle loads and judges every pair, and never left off."""

from __future__ import annotations

import gc
import threading

import pytest

from sync.heap import collector_paused


def test_collector_is_off_inside_and_back_on_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_collector_comes_back_on_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a bug in evaluation")
    assert gc.isenabled()


def test_overlapping_pauses_in_two_threads_leave_the_collector_on() -> None:
    first_in, second_done = threading.Event(), threading.Event()
    seen_after_inner: list[bool] = []

    def second() -> None:
        first_in.wait()
        with collector_paused():  # found it off: must not be the one to turn it on
            pass
        seen_after_inner.append(gc.isenabled())
        second_done.set()

    thread = threading.Thread(target=second)
    thread.start()
    with collector_paused():
        first_in.set()
        second_done.wait(5)
        assert not gc.isenabled()
    thread.join()
    assert seen_after_inner == [False], "the inner pause turned the collector on under the outer one"
    assert gc.isenabled()


def test_an_already_disabled_collector_stays_disabled() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
