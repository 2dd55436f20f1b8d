"""The kill-switch watcher: started by the first evaluation, refreshing in the background, fork-safe."""

from __future__ import annotations

import gc
import os
import select
import signal
import threading
import time
import warnings

import pytest

from graylib import Client, Context, MemoryStore, Reason
from graylib._runtime._killwatch import KillWatch
from tests.helpers import make_config

CTX = Context(account="u-1", payment_type="online_purchase", amount=54_000)


def _watchers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "graylib-kill-switches"]


def _wait_for(condition: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.01)
    return False


def test_no_thread_until_the_first_evaluation_and_none_after_close() -> None:
    c = Client(make_config(), cluster="sh-small", kill_refresh=0.05)
    assert c._kills.watch is not None and not c._kills.watch.running
    assert c._kills.state.polling
    assert c.evaluate("subsidy", CTX).applies
    assert c._kills.watch.running and not c._kills.state.polling
    thread = c._kills.watch._thread
    assert thread is not None
    c.close()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert c.evaluate("subsidy", CTX).applies  # still answers after close, polling the clock
    assert not c._kills.watch.running


def test_a_kill_through_the_store_reaches_a_client_within_the_refresh() -> None:
    store = MemoryStore()
    a = Client(make_config(), cluster="sh-small", store=store, kill_refresh=0.05)
    b = Client(make_config(), cluster="sh-small", store=store, kill_refresh=0.05)
    try:
        assert b.evaluate("subsidy", CTX).applies  # starts b's watcher
        a.kill("subsidy", reason="wrong amount")
        assert _wait_for(lambda: b.evaluate("subsidy", CTX).reason is Reason.KILLED)
        a.revive("subsidy")
        assert _wait_for(lambda: b.evaluate("subsidy", CTX).applies)
    finally:
        a.close()
        b.close()


def test_zero_refresh_polls_on_every_call_without_a_thread() -> None:
    c = Client(make_config(), cluster="sh-small", kill_refresh=0.0)
    c.evaluate("subsidy", CTX)
    assert c._kills.watch is None and c._kills.state.polling


def test_a_dropped_client_ends_its_thread() -> None:
    c = Client(make_config(), cluster="sh-small", kill_refresh=0.02)
    c.evaluate("subsidy", CTX)
    watch = c._kills.watch
    assert watch is not None
    thread = watch._thread
    assert thread is not None and thread.is_alive()
    del c, watch
    for _ in range(100):  # the client is freed by the cycle collector once no tick holds it
        gc.collect()
        thread.join(timeout=0.05)
        if not thread.is_alive():
            break
    assert not thread.is_alive()


def test_a_failing_tick_does_not_end_the_thread() -> None:
    calls: list[int] = []

    class Owner:
        def tick(self) -> None:
            calls.append(1)
            raise RuntimeError("store down")

        def forked(self) -> None:
            pass

    owner = Owner()
    watch = KillWatch(owner.tick, owner.forked, interval=0.01)
    watch.start()
    try:
        assert _wait_for(lambda: len(calls) >= 3)
        assert watch.running
    finally:
        watch.stop()


def test_interval_must_be_positive() -> None:
    class Owner:
        def tick(self) -> None:
            pass

    owner = Owner()
    with pytest.raises(ValueError, match="positive"):
        KillWatch(owner.tick, owner.tick, interval=0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_polls_then_starts_its_own_thread() -> None:
    store = MemoryStore()
    c = Client(make_config(), cluster="sh-small", store=store, kill_refresh=0.05)
    assert c.evaluate("subsidy", CTX).applies
    read, write = os.pipe()
    with warnings.catch_warnings():  # 3.12+ warns about forking a process that has threads: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: report, never return into pytest
        code = 1
        try:
            ok = c._kills.state.polling and c._kills.watch is not None and not c._kills.watch.running
            ok = ok and c.evaluate("subsidy", CTX).applies and bool(c._kills.watch and c._kills.watch.running)
            ok = ok and not c._kills.state.polling
            store.kill("subsidy", "in the child", time.time())
            ok = ok and _wait_for(lambda: c.evaluate("subsidy", CTX).reason is Reason.KILLED)
            code = 0 if ok else 1
        finally:
            os.write(write, bytes([code]))
            os._exit(code)
    assert _child_succeeded(pid, read, write)
    assert c._kills.watch is not None and c._kills.watch.running  # the parent's thread is untouched
    c.close()


def _child_succeeded(pid: int, read: int, write: int) -> bool:
    """Whether a forked child reported success through the pipe and exited 0 (one that hangs is killed)."""
    os.close(write)
    result = b"timeout"
    try:
        ready, _, _ = select.select([read], [], [], 60)
        if ready:
            result = os.read(read, 1)
    finally:
        os.close(read)
        if result == b"timeout":
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    return result == b"\x00" and os.waitstatus_to_exitcode(status) == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_while_the_stop_event_is_locked_does_not_freeze_the_childs_watcher() -> None:
    store = MemoryStore()
    c = Client(make_config(), cluster="sh-small", store=store, kill_refresh=0.05)
    assert c.evaluate("subsidy", CTX).applies
    watch = c._kills.watch
    assert watch is not None
    read, write = os.pipe()
    stop_lock = watch._stop._cond  # type: ignore[attr-defined]  # held by every wait for an instant
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        stop_lock.acquire()
        try:
            pid = os.fork()
        finally:
            if pid != 0:
                stop_lock.release()
    if pid == 0:  # the child: its watcher thread must still tick
        code = 1
        try:
            ok = c.evaluate("subsidy", CTX).applies and c._kills.watch is not None and c._kills.watch.running
            store.kill("subsidy", "in the child", time.time())
            ok = ok and _wait_for(lambda: c.evaluate("subsidy", CTX).reason is Reason.KILLED, timeout=3)
            code = 0 if ok else 1
        finally:
            os.write(write, bytes([code]))
            os._exit(code)
    assert _child_succeeded(pid, read, write)
    c.close()
