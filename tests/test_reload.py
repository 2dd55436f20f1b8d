"""Background reload: content hash, every check before the swap, last good snapshot kept, fork, close."""

from __future__ import annotations

import gc
import json
import logging
import os
import select
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from graylib import Client, ConfigError, Context, PolicyError
from graylib._compile import Snapshot
from tests.helpers import make_config

CTX = Context(account="u-1", payment_type="online_purchase", amount=10_000, region="CN-31")
APPROVED = {"author": "li.wei", "approved_by": ["zhang.min", "wang.fang"], "ticket": "MKT-1"}
GUARDRAILS = {
    "max_percent_off": 30,
    "max_amount_off": 100_000,
    "forbidden_payment_types": ["p2p_transfer"],
    "min_approvals": 2,
}


def rules_json(version: str, *, percent: int = 15, stage: str = "small-cluster", **rule: Any) -> str:
    """A rules file in JSON (the format needs no writer): one rule, approved by two people."""
    data = make_config(
        {"discount": {"percent": percent, "max_off": 50_000}, "rollout": _rollout(stage), **rule},
        version=version,
        guardrails=GUARDRAILS,
        change=APPROVED,
    )
    return json.dumps(data, indent=1)


def _rollout(stage: str) -> dict[str, Any]:
    base = make_config()["rules"][0]["rollout"]
    return {"stage": stage, "stages": base["stages"]}


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.json"
    path.write_text(rules_json("v1"))
    return path


def test_reload_now_swaps_in_a_valid_change_and_calls_on_reload(rules: Path) -> None:
    seen: list[Snapshot] = []
    with Client.from_file(rules, cluster="sh-small", on_reload=seen.append) as client:
        assert client.reload_now() and seen == []  # unchanged: nothing to do
        rules.write_text(rules_json("v2", percent=20))
        assert client.reload_now()
        assert client.config.version == "v2" and client.evaluate("subsidy", CTX).discount == 2_000
        assert [s.version for s in seen] == ["v2"]
        status = client.status()
        assert status.reloads == 1 and status.last_reload_error == "" and status.healthy


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        ("{ not json", ConfigError, "JSON syntax"),
        (rules_json("v2", percent=95), ConfigError, "rules[0].discount.percent: must be at most"),
        (rules_json("v2", stage="full"), PolicyError, "stage advances 2 steps at once"),
        (
            rules_json(
                "v2",
                smoke=[
                    {
                        "name": "regular account here",
                        "context": {"account": "u-1", "payment_type": "online_purchase", "amount": 10_000},
                        "expect": {"applies": False},
                    }
                ],
            ),
            ConfigError,
            "smoke case rules[0].smoke[0] 'regular account here': expected applies=false",
        ),
    ],
    ids=["broken-syntax", "over-guardrail", "stage-skipped", "failing-smoke-case"],
)
def test_a_refused_file_keeps_the_last_good_snapshot(
    rules: Path, content: str, error: type[Exception], message: str
) -> None:
    errors: list[Exception] = []
    with Client.from_file(rules, cluster="sh-small", on_reload_error=errors.append) as client:
        before = client.snapshot
        rules.write_text(content)
        assert client.reload_now() is False
        assert client.snapshot is before and client.evaluate("subsidy", CTX).applies
        assert len(errors) == 1 and isinstance(errors[0], error) and message in str(errors[0])
        status = client.status()
        assert message in status.last_reload_error and status.last_reload_error_at is not None
        assert not status.healthy and status.version == "v1"


def test_a_widening_reload_without_approvals_is_refused(rules: Path) -> None:
    with Client.from_file(rules, cluster="sh-small") as client:
        data = json.loads(rules_json("v2", stage="everywhere-25"))
        data["change"]["approved_by"] = ["li.wei"]  # the author does not count
        rules.write_text(json.dumps(data))
        assert not client.reload_now()
        assert "needs 2 approvers other than the author 'li.wei'" in client.status().last_reload_error
        data["rules"][0]["rollout"]["stage"] = "smoke"  # narrowing: the emergency path needs nobody
        rules.write_text(json.dumps(data))
        assert client.reload_now() and client.config.rules[0].rollout.stage == "smoke"


def test_background_thread_picks_up_a_change_with_the_same_mtime(rules: Path) -> None:
    stat = rules.stat()
    with Client.from_file(rules, cluster="sh-small", reload_interval=0.02) as client:
        assert client.status().reloading
        rules.write_text(rules_json("v9", percent=16))  # same length as v1's text
        os.utime(rules, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert rules.stat().st_mtime_ns == stat.st_mtime_ns and rules.stat().st_size == stat.st_size
        assert wait_for(lambda: client.config.version == "v9")


def test_background_errors_are_reported_once_per_bad_version(rules: Path) -> None:
    errors: list[Exception] = []
    with Client.from_file(
        rules, reload_interval=0.01, on_reload_error=errors.append, cluster="sh-small"
    ) as c:
        rules.write_text("{ broken")
        assert wait_for(lambda: len(errors) == 1)
        time.sleep(0.1)  # many more polls of the same broken text
        assert len(errors) == 1 and c.config.version == "v1"
        rules.write_text(rules_json("v2"))
        assert wait_for(lambda: c.config.version == "v2")


def test_hook_exceptions_are_logged_not_raised(rules: Path, caplog: pytest.LogCaptureFixture) -> None:
    def boom(_: object) -> None:
        raise RuntimeError("hook fault")

    with Client.from_file(rules, cluster="sh-small", on_reload=boom, on_reload_error=boom) as client:
        rules.write_text(rules_json("v2"))
        with caplog.at_level(logging.ERROR, logger="graylib"):
            assert client.reload_now()
            rules.write_text("{")
            assert not client.reload_now()
        assert client.config.version == "v2"
        assert sum("hook raised" in r.getMessage() for r in caplog.records) == 2


def test_close_stops_and_joins_the_thread(rules: Path) -> None:
    client = Client.from_file(rules, reload_interval=0.01)
    thread = client._follower._thread if client._follower else None
    assert thread is not None and thread.is_alive()
    client.close()
    assert not thread.is_alive() and not client.status().reloading


def test_a_forgotten_client_is_collected_and_its_thread_ends(rules: Path) -> None:
    client = Client.from_file(rules, reload_interval=0.01)
    assert client._follower is not None
    thread = client._follower._thread
    assert thread is not None
    ref = weakref.ref(client)
    del client
    gc.collect()
    assert ref() is None
    thread.join(5)
    assert not thread.is_alive()


def test_no_thread_without_an_interval(rules: Path) -> None:
    before = {t.name for t in threading.enumerate()}
    with Client.from_file(rules) as client:
        assert "graylib-reload" not in {t.name for t in threading.enumerate()} - before
        assert not client.status().reloading


def test_last_good_copy_is_written_and_served_when_the_source_breaks(rules: Path, tmp_path: Path) -> None:
    last_good = tmp_path / "last-good.json"
    with Client.from_file(rules, cluster="sh-small", last_good_path=last_good) as client:
        assert last_good.read_text() == rules.read_text()
        rules.write_text(rules_json("v2", percent=20))
        assert client.reload_now() and last_good.read_text() == rules.read_text()
        rules.write_text("{ broken")
        assert not client.reload_now()
    assert json.loads(last_good.read_text())["version"] == "v2"  # the broken text never replaced it
    assert not list(tmp_path.glob("*.tmp-*"))
    # A restart with a broken source serves the last good copy and says so.
    with Client.from_file(rules, cluster="sh-small", last_good_path=last_good) as client:
        status = client.status()
        assert status.version == "v2" and status.served_from == "last_good" and not status.healthy
        assert "JSON syntax" in status.last_reload_error
        assert client.evaluate("subsidy", CTX).discount == 2_000
        good_again = last_good.read_text()
        rules.write_text(good_again)  # the source restored to the very text served: nothing to reload
        assert client.reload_now() and client.status().served_from == "source"
        rules.write_text(rules_json("v3", percent=20, stage="everywhere-25"))  # checked against v2
        assert client.reload_now() and client.status().served_from == "source"
    # Both broken: the source's error is raised.
    rules.write_text("{ broken")
    last_good.write_text("{ also broken")
    with pytest.raises(ConfigError, match=r"rules\.json"):
        Client.from_file(rules, last_good_path=last_good)


def test_evaluations_never_see_a_half_built_snapshot(rules: Path) -> None:
    """Threads evaluate while the file is reloaded over and over: every decision's version matches the
    discount of that version exactly."""
    expected = {f"v{k}": (15 + k % 10) * 100 for k in range(25)}
    stop = threading.Event()
    bad: list[str] = []
    counts = [0] * 4
    rules.write_text(rules_json("v0"))
    with Client.from_file(rules, cluster="sh-small") as client:
        start = threading.Barrier(5)

        def evaluate(slot: int) -> None:
            start.wait(5)
            while not stop.is_set():
                d = client.evaluate("subsidy", CTX)
                counts[slot] += 1
                if not d.applies or expected.get(d.rule_version) != d.discount:
                    bad.append(f"{d.rule_version}: {d.discount} ({d.reason})")

        threads = [threading.Thread(target=evaluate, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        start.wait(5)
        versions = []
        for k in range(1, 25):
            rules.write_text(rules_json(f"v{k}", percent=15 + k % 10))
            assert client.reload_now(), client.status().last_reload_error
            versions.append(client.config.version)
            time.sleep(0.002)
        stop.set()
        for t in threads:
            t.join(10)
        assert versions[-1] == "v24" and client.status().reloads == 24
    assert not bad, bad[:5]
    assert all(counts)


def test_a_forked_child_keeps_reloading(rules: Path) -> None:
    client = Client.from_file(rules, cluster="sh-small", reload_interval=0.02)
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Forking while the reloader thread runs is what a pre-forking server does; Python 3.12+ warns.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: wait for the parent's edit, report the version it serves
        code = 1
        try:
            os.close(read_end)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and client.config.version != "v2":
                time.sleep(0.01)
            alive = client._follower is not None and client._follower.running
            os.write(write_end, f"{client.config.version} {alive}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        rules.write_text(rules_json("v2", percent=20))
        ready, _, _ = select.select([read_end], [], [], 15)
        assert ready, "the child did not report"
        assert os.read(read_end, 100).decode() == "v2 True"
    finally:
        os.close(read_end)
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.01)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        client.close()
    assert status is not None and os.waitstatus_to_exitcode(status) == 0
    assert client.config.version == "v2"  # the parent reloaded too


def test_a_restart_checks_the_source_against_the_last_good_copy(rules: Path, tmp_path: Path) -> None:
    """A process that restarts must refuse what a running one would have refused: no skipped stages."""
    last_good = tmp_path / "last-good.json"
    with Client.from_file(rules, cluster="sh-small", last_good_path=last_good):
        pass  # v1 at small-cluster is the last good copy
    rules.write_text(rules_json("v2", stage="full"))  # two steps past small-cluster
    errors: list[Exception] = []
    with Client.from_file(
        rules,
        cluster="sh-small",
        last_good_path=last_good,
        on_reload_error=errors.append,
        reload_interval=0.01,
    ) as client:
        status = client.status()
        assert status.version == "v1" and status.served_from == "last_good" and not status.healthy
        assert "stage advances 2 steps at once" in status.last_reload_error
        assert len(errors) == 1 and isinstance(errors[0], PolicyError)
        assert "last good copy" in str(errors[0])
        time.sleep(0.1)  # polls of the same refused source report nothing new
        assert len(errors) == 1 and client.config.version == "v1"
        rules.write_text(rules_json("v3", stage="everywhere-25"))  # one step: the reloader takes it
        assert wait_for(lambda: client.config.version == "v3")
        assert client.status().served_from == "source"
    assert json.loads(last_good.read_text())["version"] == "v3"


def test_a_restart_within_policy_serves_the_source(rules: Path, tmp_path: Path) -> None:
    last_good = tmp_path / "last-good.json"
    with Client.from_file(rules, cluster="sh-small", last_good_path=last_good):
        pass
    rules.write_text(rules_json("v2", stage="everywhere-25"))
    errors: list[Exception] = []
    with Client.from_file(
        rules, cluster="sh-small", last_good_path=last_good, on_reload_error=errors.append
    ) as client:
        status = client.status()
        assert status.version == "v2" and status.served_from == "source" and status.healthy
    assert errors == [] and json.loads(last_good.read_text())["version"] == "v2"


def test_a_restart_with_an_unusable_last_good_copy_serves_the_source_and_says_so(
    rules: Path, tmp_path: Path
) -> None:
    """Nothing to check against: the valid source is served (as on a fresh machine), and reported."""
    last_good = tmp_path / "last-good.json"
    last_good.write_text("{ torn")
    errors: list[Exception] = []
    with Client.from_file(
        rules, cluster="sh-small", last_good_path=last_good, on_reload_error=errors.append
    ) as client:
        status = client.status()
        assert status.version == "v1" and status.served_from == "source"
        assert "JSON syntax" in status.last_reload_error and not status.healthy
        assert len(errors) == 1 and isinstance(errors[0], ConfigError)
    assert last_good.read_text() == rules.read_text()  # the served source is the last good copy now


def test_a_file_read_half_written_is_retried_not_reported(rules: Path) -> None:
    """A file written in place can be read mid-write: the poll takes a changed file only when two reads
    agree, so the torn read is neither swapped in nor reported."""
    errors: list[Exception] = []
    with Client.from_file(rules, cluster="sh-small", on_reload_error=errors.append) as client:
        reloader = client._follower
        assert reloader is not None
        full = rules_json("v2", percent=20)
        rules.write_text(full[: len(full) // 2])  # the writer is half-way through
        assert not reloader.check()  # the poll's first sighting
        rules.write_text(full)  # the writer is done
        assert not reloader.check()  # changed again: a first sighting again
        assert errors == [] and client.status().last_reload_error == "" and client.config.version == "v1"
        assert reloader.check() and client.config.version == "v2"
        rules.write_text("{ broken for good")
        assert not reloader.check() and errors == []
        assert not reloader.check() and len(errors) == 1  # it holds still: a real error, reported once
        assert not reloader.check() and len(errors) == 1


def test_reload_now_waits_for_a_file_being_written(rules: Path) -> None:
    full = rules_json("v2", percent=20)
    errors: list[Exception] = []
    with Client.from_file(rules, cluster="sh-small", on_reload_error=errors.append) as client:
        rules.write_text(full[:100])  # the writer is part-way through, and finishes a moment later

        def finish() -> None:
            time.sleep(0.02)
            rules.write_text(full)

        writer = threading.Thread(target=finish)
        writer.start()
        assert client.reload_now(), client.status().last_reload_error
        writer.join(5)
        assert client.config.version == "v2" and errors == []


def test_close_during_a_reload_swaps_nothing(rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from graylib._policy import plan_change as real_plan

    checking, release = threading.Event(), threading.Event()

    def slow_plan(*args: Any, **kwargs: Any) -> Any:
        checking.set()
        release.wait(5)
        return real_plan(*args, **kwargs)

    monkeypatch.setattr("graylib._runtime._startup.plan_change", slow_plan)
    seen: list[Snapshot] = []
    client = Client.from_file(rules, cluster="sh-small", on_reload=seen.append)
    rules.write_text(rules_json("v2", percent=20))
    results: list[bool] = []
    worker = threading.Thread(target=lambda: results.append(client.reload_now()))
    worker.start()
    assert checking.wait(5)
    client.close()
    release.set()
    worker.join(5)
    assert results == [False] and client.config.version == "v1" and seen == []


def test_putting_the_served_text_back_makes_the_status_healthy_again(rules: Path) -> None:
    errors: list[Exception] = []
    with Client.from_file(rules, cluster="sh-small", on_reload_error=errors.append) as client:
        served = rules.read_text()
        rules.write_text("{ broken")
        assert not client.reload_now() and not client.status().healthy
        time.sleep(0.01)  # the recovery is later than the error, also on a coarse clock
        rules.write_text(served)  # the operator reverts the file
        assert client.reload_now()
        status = client.status()
        assert status.healthy and status.reloads == 0 and "JSON syntax" in status.last_reload_error
        rules.write_text("{ broken")  # the same bad text again is a new failure: the poll reports it
        assert client._follower is not None
        assert not client._follower.check() and not client._follower.check() and len(errors) == 2


def test_a_configmap_style_symlink_swap_is_picked_up(tmp_path: Path) -> None:
    """Kubernetes mounts a ConfigMap as rules.json -> ..data/rules.json, ..data -> a versioned directory,
    and ships a new version by swapping ..data atomically."""

    def publish(name: str, text: str) -> None:
        (tmp_path / name).mkdir()
        (tmp_path / name / "rules.json").write_text(text)
        (tmp_path / "..data_tmp").symlink_to(name)
        os.replace(tmp_path / "..data_tmp", tmp_path / "..data")

    publish("..v1", rules_json("v1"))
    rules = tmp_path / "rules.json"
    rules.symlink_to("..data/rules.json")
    errors: list[Exception] = []
    with Client.from_file(
        rules, cluster="sh-small", reload_interval=0.01, on_reload_error=errors.append
    ) as client:
        publish("..v2", rules_json("v2", percent=20))
        assert wait_for(lambda: client.config.version == "v2")
    assert errors == []


def test_the_collector_is_paused_while_a_config_is_built_and_restored_after() -> None:
    import gc

    from graylib._load import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a failed build")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # an application that runs without the collector keeps it off
    finally:
        gc.enable()
