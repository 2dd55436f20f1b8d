"""The runtime parts work on their own, given only what they need: no client anywhere in these tests."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

import pytest

from graylib import ConfigError, Context, Reason
from graylib._compile import Snapshot, digest_text
from graylib._load import RulesText, build
from graylib._runtime._follow import Follower
from graylib._runtime._kills import KillState, KillView
from graylib._runtime._served import Polling, SwitchKilled, Unknown, compose
from graylib._runtime._source import Sighting
from graylib._runtime._startup import start_from
from graylib.stores import KillSwitch
from tests.helpers import make_config

CTX = Context(account="u-1", payment_type="online_purchase", amount=54_000)


def _snapshot(version: str = "v1", **rule: object) -> Snapshot:
    return build(make_config(rule, version=version), cluster="sh-small")


class _Revisions:
    """A source with revisions of its own, as a store's published revision would be."""

    name = "store revision"

    def __init__(self, text: str) -> None:
        self.text = text

    def look(self) -> Sighting:
        return Sighting(digest_text(self.text), RulesText(self.text, "json", self.name))

    def read_copy(self, path: str) -> RulesText:
        raise ConfigError(["no copies kept"])


class _Owner:
    """What a follower needs from whoever serves: the served snapshot and the swap (held weakly)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.swaps: list[Snapshot] = []

    def served(self) -> Snapshot:
        return self.snapshot

    def swap(self, snapshot: Snapshot) -> None:
        self.swaps.append(snapshot)
        self.snapshot = snapshot


def _build(rules: RulesText) -> Snapshot:
    return build(rules, cluster="sh-small")


def test_a_follower_follows_any_source_into_any_swap() -> None:
    source = _Revisions(json.dumps(make_config(version="v1")))
    startup = start_from(source, _build, None)
    owner = _Owner(startup.snapshot)
    follower = Follower(
        source,
        build=_build,
        served=owner.served,
        swap=owner.swap,
        interval=None,
        on_reload=None,
        on_reload_error=None,
        last_good_path=None,
    )
    follower.begin(startup)
    assert follower.check(force=True) and owner.swaps == []  # unchanged: nothing to swap
    source.text = json.dumps(make_config({"state": "shadow"}, version="v2"))
    assert follower.check(force=True)
    assert [s.version for s in owner.swaps] == ["v2"]
    source.text = json.dumps(make_config({"discount": {"percent": 90, "max_off": 10}}, version="v3"))
    assert not follower.check(force=True)  # refused: v2 stays served
    assert owner.snapshot.version == "v2" and "max_percent_off" in follower.last_error


def _kills(read: object = dict) -> KillView:
    return KillView(read, refresh=0, max_stale=0.05, on_change=_noop, on_fork=_noop)  # type: ignore[arg-type]


def _noop() -> None:
    return None


def _no_entry(rule_id: str, snapshot: Snapshot) -> None:
    return None


def test_compose_serves_a_switched_off_rule_as_killed_and_a_stale_view_as_errors() -> None:
    snapshot = _snapshot()
    kills = _kills()
    plain = compose(snapshot, KillState(polling=False), kills, _no_entry)
    assert plain.rules is snapshot.rules  # nothing folded in: the compiled rules are served as they are
    switch = KillSwitch("subsidy", "bad amount", 1.0)
    killed = compose(snapshot, KillState({"subsidy": switch}, polling=False), kills, _no_entry)
    entry = killed.rules["subsidy"]
    assert isinstance(entry, SwitchKilled)
    decision = entry.evaluate(CTX)
    assert decision.reason is Reason.KILLED and decision.detail == "kill switch: bad amount"
    would, kill = entry.judge(CTX, time.time())
    assert would.applies and kill is decision  # one evaluation gives a claim both answers
    stale = compose(snapshot, KillState(stale=True, polling=False), kills, _no_entry)
    assert isinstance(stale.rules["subsidy"], Unknown)
    assert stale.rules["subsidy"].evaluate(CTX).reason is Reason.ERROR
    polling = compose(snapshot, KillState(), kills, _no_entry)
    assert isinstance(polling.rules["subsidy"], Polling)
    assert polling.by_payment_type["online_purchase"][0] is polling.rules["subsidy"]


def test_a_kill_view_goes_stale_and_fresh_again_on_its_own() -> None:
    answers: list[Mapping[str, KillSwitch] | Exception] = [{}]

    def read() -> Mapping[str, KillSwitch]:
        answer = answers[-1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    changes: list[KillState] = []
    view = KillView(read, refresh=0, max_stale=0.05, on_change=lambda: None, on_fork=lambda: None)
    view._on_change = lambda: changes.append(view.state)  # observe every change
    view.refresh()
    assert not view.state.stale and changes == []  # nothing changed: no rebuild
    answers.append(ConnectionError("down"))
    view.refresh()
    assert not view.state.stale and "down" in view.error
    time.sleep(0.06)
    view.refresh()
    assert view.state.stale and changes[-1].stale
    answers.append({})
    view.refresh()
    assert not view.state.stale and view.error == ""


def test_build_refuses_a_failing_smoke_case_as_the_client_it_builds_for() -> None:
    smoke = [
        {
            "name": "applies here",
            "expect": {"applies": True},
            "context": {"account": "u-1", "payment_type": "online_purchase", "amount": 1000},
        }
    ]
    assert build(make_config({"smoke": smoke}), cluster="sh-small").version == "test-1"
    with pytest.raises(ConfigError, match="applies here"):
        build(make_config({"smoke": smoke}), cluster="bj-big")


def test_evaluate_judges_a_schedule_by_the_clients_clock_and_only_scheduled_rules_read_it() -> None:
    from graylib import Client

    calls: list[float] = []
    now = [1_894_000_000.0]  # 2030-01-08, inside the schedule below

    def clock() -> float:
        calls.append(now[0])
        return now[0]

    schedule = {"starts_at": "2030-01-01T00:00:00+00:00", "ends_at": "2030-02-01T00:00:00+00:00"}
    scheduled = make_config(schedule, {**schedule, "id": "always", "starts_at": None, "ends_at": None})
    client = Client(scheduled, cluster="sh-small", clock=clock, kill_refresh=0)
    assert client.evaluate("subsidy", CTX).applies
    now[0] = 1_900_000_000.0  # 2030-03-18: past ends_at
    assert client.evaluate("subsidy", CTX).reason is Reason.NOT_ACTIVE
    before = len(calls)
    assert client.evaluate("always", CTX).applies  # no schedule: no clock read at all
    assert len(calls) == before
    client.close()
