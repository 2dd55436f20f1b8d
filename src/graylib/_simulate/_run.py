"""Drive synthetic payments through a real ``Client`` and store on a simulated clock, minute by minute.

Nothing sleeps: the client is given a clock that the run moves forward payment by payment, so limit windows,
the rate alarm and idempotency records behave as they would over real minutes, and ten minutes of a busy
platform replay in seconds. Every payment is claimed (``Client.claim``), exactly as a payment service would,
and every decision is tallied into the row of its minute. Guardrails that trip (the rate alarm killing the
rule, a limit refusing for the first time, a kill switch found set) and operator actions (promoting the
rule to its next stage) are recorded as events with the simulated time they happened at.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable

import attrs

from .._client import Client
from .._config import Config, Rule
from .._policy import plan_change
from .._runtime._claims import Alert
from .._values import Context, Decision, Reason
from ..stores import Store
from ._payments import PaymentStream
from ._traffic import TrafficModel

__all__ = ["START", "Event", "Minute", "SimClock", "Simulation", "run_simulation"]

START = dt.datetime(2025, 1, 16, 2, 0, tzinfo=dt.timezone.utc).timestamp()
"""Simulated time starts here (10:00 in Beijing): on a whole hour, so hourly windows start with the run."""

ProgressHook = Callable[[int, int], object]
"""Called with (simulated seconds done, seconds in all) after every simulated second."""


class SimClock:
    """The time a simulation's client counts with; the run sets ``now`` before every claim."""

    __slots__ = ("now",)

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@attrs.frozen
class Event:
    """Something that happened during the run, at ``second`` seconds after the start."""

    second: float
    kind: str
    """``rate_alarm``, ``limit``, ``killed``, ``promoted`` or ``promotion_refused``."""
    text: str

    @property
    def clock(self) -> str:
        """``mm:ss`` since the start of the run."""
        whole = int(self.second)
        return f"{whole // 60:02d}:{whole % 60:02d}"


@attrs.define
class Minute:
    """The tally of one simulated minute (``minute`` counts from 1)."""

    minute: int
    stage: str
    payments: int = 0
    payment_amount: int = 0
    grants: int = 0
    granted: int = 0
    refusals: dict[str, int] = attrs.Factory(dict)
    events: list[Event] = attrs.Factory(list)

    @property
    def refused(self) -> int:
        return sum(self.refusals.values())


@attrs.frozen
class Simulation:
    """Everything one run measured."""

    source: str
    rule_id: str
    minutes: tuple[Minute, ...]
    events: tuple[Event, ...]
    payments_per_second: int
    seed: int
    exposure: int
    """What the rule's discount would have given away uncapped, on every payment, everywhere, unlimited."""
    elapsed: float
    """Wall-clock seconds the run took."""
    unsafe: tuple[str, ...] = ()
    """The validation problems skipped to run this config (``--unsafe-skip-validation``)."""

    @property
    def payments(self) -> int:
        return sum(m.payments for m in self.minutes)

    @property
    def grants(self) -> int:
        return sum(m.grants for m in self.minutes)

    @property
    def granted(self) -> int:
        """Total discount given away, minor units."""
        return sum(m.granted for m in self.minutes)

    @property
    def refusals(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for m in self.minutes:
            for reason, count in m.refusals.items():
                total[reason] = total.get(reason, 0) + count
        return total


def pick_rule(config: Config, rule_id: str | None) -> Rule:
    """The rule to simulate: ``rule_id``, or the config's only rule. ``ValueError`` says which exist."""
    if rule_id is not None:
        rule = config.rule(rule_id)
        if rule is None:
            msg = f"no rule {rule_id!r} in the config (rules: {', '.join(config.rule_ids) or 'none'})"
            raise ValueError(msg)
        return rule
    if len(config.rules) != 1:
        msg = (
            f"the config has {len(config.rules)} rules; choose one with --rule ({', '.join(config.rule_ids)})"
        )
        raise ValueError(msg)
    return config.rules[0]


def promoted(config: Config, rule_id: str) -> Config | None:
    """The config with the rule one stage further, as an operator's next change would be; None at the end.

    The version gets the stage's name appended, so decisions and status tell the two configs apart.
    """
    rule = config.rule(rule_id)
    if rule is None or rule.rollout.index + 1 >= len(rule.rollout.stages):
        return None
    rollout = attrs.evolve(rule.rollout, stage=rule.rollout.stages[rule.rollout.index + 1].name)
    rules = tuple(attrs.evolve(r, rollout=rollout) if r.id == rule_id else r for r in config.rules)
    return attrs.evolve(config, rules=rules, version=f"{config.version}+{rollout.stage}")


def _uncapped(rule: Rule) -> Callable[[int], int]:
    """The rule's discount on one payment with its cap taken away (the exposure baseline)."""
    return attrs.evolve(rule.discount, max_off=None).of


class _Run:
    """The state of one simulation: client, clock, the minute being tallied, events seen so far."""

    def __init__(self, config: Config, rule: Rule, store: Store, clock: SimClock) -> None:
        self.config = config
        self.rule_id = rule.id
        self.store = store
        self.clock = clock
        self.events: list[Event] = []
        self.limits_seen: set[str] = set()
        self.killed = False
        self.row = Minute(0, rule.rollout.stage)
        self.client = self._client(config)

    def _client(self, config: Config) -> Client:
        """The one place a client is built: the simulated clock, the shared store and the alert hook."""
        return Client(config, store=self.store, clock=self.clock, on_alert=self._on_alert)

    def claim(self, ctx: Context) -> Decision:
        """The one place a payment is decided: a claim, exactly as a payment service makes it."""
        return self.client.claim(self.rule_id, ctx)

    def event(self, kind: str, text: str) -> None:
        event = Event(self.clock.now - START, kind, text)
        self.events.append(event)
        self.row.events.append(event)

    def _on_alert(self, alert: Alert) -> None:
        self.killed = True
        self.event("rate_alarm", f"rate alarm tripped, rule killed ({alert.reason})")

    def promote(self) -> None:
        """Advance the rule one stage, as an operator would, unless it is killed or at its last stage."""
        if self.killed:
            return
        nxt = promoted(self.config, self.rule_id)
        if nxt is None:
            return
        plan = plan_change(self.config, nxt)  # the same change checks `graylib plan` and reloads apply
        if not plan.allowed:
            refused = "; ".join(str(v) for v in plan.violations)
            self.event("promotion_refused", f"promotion refused by change policy: {refused}")
            return
        self.config = nxt
        # The client's reload path reads a file; an equivalent swap here: the same policy check above, the
        # smoke cases in the new client, and the same store, so counters and kill switches carry over.
        old, self.client = self.client, self._client(nxt)
        old.close()
        rule = nxt.rule(self.rule_id)
        assert rule is not None
        self.row.stage = rule.rollout.stage
        self.event("promoted", f"promoted to stage {rule.rollout.stage!r}")

    def tally(self, decision: Decision) -> None:
        row = self.row
        if decision.applies:
            row.grants += 1
            row.granted += decision.discount
            return
        reason = decision.reason
        key = reason.value
        row.refusals[key] = row.refusals.get(key, 0) + 1
        if reason is Reason.LIMIT_REACHED:
            kind = decision.limit or "limit"
            if kind not in self.limits_seen:
                self.limits_seen.add(kind)
                self.event("limit", f"{kind} limit reached for the first time ({decision.detail})")
        elif reason is Reason.KILLED and not self.killed:
            self.killed = True
            self.event("killed", f"rule refused as killed ({decision.detail or 'state is killed'})")


def run_simulation(
    config: Config,
    *,
    traffic: TrafficModel,
    store: Store,
    rule_id: str | None = None,
    minutes: int = 10,
    payments_per_second: int = 200,
    seed: int = 1,
    promote_every: int | None = None,
    progress: ProgressHook | None = None,
    unsafe: tuple[str, ...] = (),
) -> Simulation:
    """Replay ``minutes`` of synthetic payments against one rule of ``config`` and tally every decision.

    Raises ``ValueError`` for an unknown or ambiguous rule or a non-positive duration or rate.
    """
    if minutes < 1 or payments_per_second < 1:
        msg = f"minutes and payments per second must be at least 1 (got {minutes}, {payments_per_second})"
        raise ValueError(msg)
    if promote_every is not None and promote_every < 1:
        msg = f"promote every must be at least 1 minute (got {promote_every})"
        raise ValueError(msg)
    rule = pick_rule(config, rule_id)
    started = time.perf_counter()  # the wall clock only measures the run; the simulation never reads it
    clock = SimClock()
    run = _Run(config, rule, store, clock)
    # Payment ids unique to this run: a store kept from an earlier run must not see its claims as replays.
    run_id = f"sim-{uuid.uuid4().hex[:12]}-"
    stream = PaymentStream(traffic, seed=seed, payments_per_second=payments_per_second, id_prefix=run_id)
    uncapped = _uncapped(rule)
    exposure = 0
    rows: list[Minute] = []
    total = minutes * 60
    try:
        for minute in range(minutes):
            if minute and promote_every and minute % promote_every == 0:
                clock.now = START + minute * 60
                run.promote()
            run.row.minute = minute + 1
            for second in range(minute * 60, minute * 60 + 60):
                batch = stream.second()
                base = START + second
                step = 1.0 / len(batch)
                row = run.row
                for i, ctx in enumerate(batch):
                    clock.now = base + i * step
                    amount = ctx.amount
                    row.payments += 1
                    row.payment_amount += amount
                    exposure += uncapped(amount)
                    run.tally(run.claim(ctx))
                if progress is not None:
                    progress(second + 1, total)
            rows.append(run.row)
            run.row = Minute(minute + 2, run.row.stage)
    finally:
        run.client.close()  # stops its kill-switch watcher thread
    return Simulation(
        source=config.source,
        rule_id=rule.id,
        minutes=tuple(rows),
        events=tuple(run.events),
        payments_per_second=payments_per_second,
        seed=seed,
        exposure=exposure,
        elapsed=time.perf_counter() - started,
        unsafe=unsafe,
    )
