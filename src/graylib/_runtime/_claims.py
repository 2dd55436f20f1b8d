"""Claims and releases: a decision that applies becomes a grant only once the store has reserved its limits.

``Client.claim`` and ``Client.release`` delegate here. A claim evaluates first (from what the client
serves: its snapshot with the kill switches folded in, no store round trip); a payment the rule does not
apply to is answered at once and counts nothing. A payment it applies to, or would apply to in shadow
mode, costs exactly one store call: ``Store.reserve`` checks the kill switch, the idempotency record,
every limit and the rate alarm, and then counts all or nothing. Every answer of the store becomes a
``Decision``; every fault becomes ``Reason.ERROR`` (fail closed). Nothing on this path raises.

How the store's answers map to decisions:

- ``GRANTED``: the evaluated decision (for a shadow rule: ``SHADOW``, counted in shadow counters only);
- ``REPLAYED``: the first decision of this payment id, exactly as it was answered then;
- ``MISMATCH``: ``ERROR``, the payment id was used before for another account, amount, type or merchant;
- ``LIMIT_REACHED``: ``LIMIT_REACHED``, the detail names the counter and its caps;
- ``KILLED``: ``KILLED``, and the client's kill-switch view is refreshed at once;
- ``ALARM_TRIPPED``: ``KILLED`` as well, because the rule's kill switch is now set and every later claim
  answers ``KILLED`` too; the ``on_alert`` hook gets an ``Alert`` (once: only the claim that tripped it);
- anything else (a custom store outside the protocol): ``ERROR``, the detail shows the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs
import msgspec

from .._limits import decode_decision
from .._redact import describe_error, describe_store, redact_url
from .._values import Context, Decision, Reason, field_problem
from ..stores import ReserveRequest, ReserveStatus, Store
from ._kills import KillView
from ._served import Served
from ._throttle import LogThrottle

__all__ = ["Alert", "AlertHook", "Claims", "ReleaseOutcome"]

log = logging.getLogger("graylib")

_GRANTED = ReserveStatus.GRANTED
_REPLAYED = ReserveStatus.REPLAYED
_MISMATCH = ReserveStatus.MISMATCH
_LIMIT_REACHED = ReserveStatus.LIMIT_REACHED
_ALARM_TRIPPED = ReserveStatus.ALARM_TRIPPED
_KILLED = ReserveStatus.KILLED
_SHADOW = Reason.SHADOW
_DETAIL_MAX = 300


@attrs.frozen
class Alert:
    """A rule's rate alarm tripped: it granted too much too fast, and its kill switch is now set.

    ``amount`` is the discount the tripping claim would have granted (it was refused); ``alarm_amount`` and
    ``window`` (seconds, 0 = lifetime) are the alarm as configured; ``reason`` is the kill switch's reason.
    """

    rule_id: str
    window: int
    alarm_amount: int
    amount: int
    reason: str
    payment_id: str = ""
    at: float = 0.0
    """Seconds since the epoch, by the client's clock."""


AlertHook = Callable[[Alert], object]
"""Called with every ``Alert``, on the claiming thread; its exceptions are logged, never raised."""


@attrs.frozen
class ReleaseOutcome:
    """What ``Client.release`` did.

    ``released`` is true when a reservation was given back (``amount`` is what it had reserved). When it is
    false, ``failed`` tells a store fault (try again later) from a payment that had nothing to give back
    (unknown, already released or expired: a no-op). ``detail`` says which.
    """

    rule_id: str
    payment_id: str
    released: bool
    amount: int = 0
    failed: bool = False
    detail: str = ""


def _refuse(decision: Decision, reason: Reason, detail: str, limit: str = "") -> Decision:
    return Decision(
        applies=False,
        reason=reason,
        rule_id=decision.rule_id,
        rule_version=decision.rule_version,
        stage=decision.stage,
        bucket=decision.bucket,
        detail=detail[:_DETAIL_MAX],
        limit=limit,
    )


_describe = describe_error


class Claims:
    """The claim and release logic of one client: the store, what is served, the kill view, the clock.

    ``served`` returns what the client serves now (read once per claim, so that the rule a payment is judged
    by and the limits it is reserved under come from one config even when a reload swaps it meanwhile);
    ``tally`` counts a claim's final answer for ``status()``.
    """

    __slots__ = ("_clock", "_kills", "_on_alert", "_served", "_store", "_tally", "_warnings")

    def __init__(
        self,
        store: Store,
        *,
        served: Callable[[], Served],
        kills: KillView,
        tally: Callable[[Decision], object],
        on_alert: AlertHook | None,
        clock: Callable[[], float],
    ) -> None:
        if on_alert is not None and not callable(on_alert):
            msg = f"Client(on_alert=...) must be callable (got {on_alert!r})"
            raise TypeError(msg)
        if not callable(clock):
            msg = f"Client(clock=...) must be callable (got {clock!r})"
            raise TypeError(msg)
        self._store = store
        self._served = served
        self._kills = kills
        self._tally = tally
        self._on_alert = on_alert
        self._clock = clock
        self._warnings = LogThrottle(log)

    def claim(self, rule_id: str, ctx: Context) -> Decision:
        """Evaluate, then reserve the rule's limits for this payment in one store call. Never raises.

        The final answer is what ``status()`` counts, so limit refusals and store faults show there too.
        """
        decision = self._claim(rule_id, ctx)
        try:
            self._tally(decision)
        except Exception as exc:  # counting must never cost a payment its answer
            log.warning("could not count a claim's decision: %r", exc)
        return decision

    def _claim(self, rule_id: str, ctx: Context) -> Decision:
        try:
            served = self._served()
            entry = served.rules.get(rule_id)
            if entry is None:
                return Decision(
                    applies=False,
                    reason=Reason.UNKNOWN_RULE,
                    rule_id=str(rule_id),
                    rule_version=served.version,
                )
            now = self._clock()
            decision, killed = entry.judge(ctx, now)
            if killed is not None and not (ctx.payment_id and decision.applies):
                # Killed by its switch. A payment it would have granted may be a retry of one reserved
                # while the rule was live, which still gets its first answer: only that asks the store.
                return killed
            if not decision.applies and decision.reason is not _SHADOW:
                return decision
            plan = entry.compiled.plan
            payment_id = ctx.payment_id
            if type(payment_id) is not str or not payment_id:
                if plan.guarded:
                    detail = "claim needs a payment_id: the rule has limits, counted once per payment id"
                    return _refuse(decision, Reason.ERROR, detail)
                return decision  # nothing to count and no payment id to remember it by
            unusable = plan.unusable(ctx)
            if unusable is not None:  # too long or not text: never hashed into a key or stored
                return _refuse(decision, Reason.ERROR, unusable)
            shadow = decision.reason is _SHADOW
            request = plan.request(ctx, decision, now, shadow=shadow)
            if isinstance(request, str):  # a LimitRefusal: a limited field the payment lacks
                return _refuse(decision, Reason.LIMIT_REACHED, request, request.limit)
        except Exception as exc:  # the payment path never raises: fail closed
            return Decision(
                applies=False, reason=Reason.ERROR, rule_id=str(rule_id), detail=_describe(exc)[:_DETAIL_MAX]
            )
        try:
            result = self._store.reserve(request)
        except Exception as exc:  # StoreError, or anything a custom store lets through
            detail = f"store unavailable: {_describe(exc)}"
            self._store_fault("claim", rule_id, detail, ctx.account, ctx.payment_id)
            return _refuse(decision, Reason.ERROR, detail)
        try:
            status = result.status
            if status is _GRANTED:
                return decision
            if status is _REPLAYED:
                return decode_decision(result.payload)
            if status is _LIMIT_REACHED:
                detail = plan.full(result.limit)
                kind = result.limit.partition(":")[0]
                return _refuse(
                    decision, Reason.LIMIT_REACHED, f"shadow: {detail}" if shadow else detail, kind
                )
            if status is _MISMATCH:
                detail = (
                    "payment id reused with a different account, amount, payment type or merchant: "
                    "nothing counted"
                )
                return _refuse(decision, Reason.ERROR, detail)
            if status is _ALARM_TRIPPED:
                reason = redact_url(str(result.detail))
                self._alert(request, reason)
                self._kills.refresh(force=True)
                return _refuse(decision, Reason.KILLED, f"kill switch: {reason}")
            if status is _KILLED:
                if killed is not None:  # this client already knew: no new payment while the switch is set
                    return killed
                self._kills.refresh(force=True)  # set after this client last looked; look again now
                info = self._kills.switches.get(rule_id)
                detail = redact_url(f"kill switch: {info.reason if info else result.detail}")
                return _refuse(decision, Reason.KILLED, detail)
            # A custom store answered something the protocol does not define: fail closed, say what.
            detail = redact_url(f"unexpected answer from the store: {status!r}")
        except msgspec.DecodeError as exc:
            detail = f"replayed claim: stored decision unreadable: {_describe(exc)}"
        except Exception as exc:
            detail = _describe(exc)
        self._store_fault("claim", rule_id, detail, ctx.account, ctx.payment_id)
        return _refuse(decision, Reason.ERROR, detail)

    def release(self, rule_id: str, payment_id: str) -> ReleaseOutcome:
        """Give back what the payment reserved, once. Never raises for a store fault."""
        if not isinstance(rule_id, str) or not isinstance(payment_id, str):
            msg = f"release(rule_id, payment_id) takes two strings (got {rule_id!r}, {payment_id!r})"
            raise TypeError(msg)
        if not payment_id:
            return ReleaseOutcome(
                rule_id, payment_id, released=False, detail="no payment id: nothing to release"
            )
        unusable = field_problem("rule_id", rule_id) or field_problem("payment_id", payment_id)
        if unusable is not None:  # a claim never stored such a value, so there is nothing to give back
            return ReleaseOutcome(rule_id, payment_id, released=False, detail=unusable)
        try:
            result = self._store.release(rule_id, payment_id, self._clock())
        except Exception as exc:
            detail = f"store unavailable: {_describe(exc)}"[:_DETAIL_MAX]
            self._store_fault("release", rule_id, detail, "", payment_id)
            return ReleaseOutcome(rule_id, payment_id, released=False, failed=True, detail=detail)
        try:
            released, amount = bool(result.released), int(result.amount)
            detail = redact_url(str(result.detail))[:_DETAIL_MAX]
        except Exception:  # a custom store answered something the protocol does not define
            detail = redact_url(f"unexpected answer from the store: {result!r}")[:_DETAIL_MAX]
            self._store_fault("release", rule_id, detail, "", payment_id)
            return ReleaseOutcome(rule_id, payment_id, released=False, failed=True, detail=detail)
        return ReleaseOutcome(rule_id, payment_id, released, amount, detail=detail)

    def _store_fault(self, what: str, rule_id: str, detail: str, account: object, payment_id: object) -> None:
        """Warn (at most once per rule and interval) that a claim or release failed on the store.

        The line names the rule and the store, never the payment: the account and the payment id are
        blanked out of the store's message too (a custom store might quote them).
        """
        try:
            for secret in (account, payment_id):
                if isinstance(secret, str) and secret:
                    detail = detail.replace(secret, "<redacted>")
            self._warnings.warning(
                (what, rule_id),
                "%s for rule %r failed closed on the store %s: %s",
                what,
                rule_id,
                describe_store(self._store),
                detail,
            )
        except Exception:  # logging must never cost a payment its answer
            return

    def _alert(self, request: ReserveRequest, reason: str) -> None:
        """Log the tripped alarm and call the hook; a failing hook is logged and otherwise ignored."""
        alert = Alert(
            rule_id=request.rule_id,
            window=request.alarm_window,
            alarm_amount=request.alarm_amount if request.alarm_amount is not None else 0,
            amount=request.amount,
            reason=reason,
            payment_id=request.payment_id,
            at=request.now,
        )
        log.error("rate alarm tripped, rule %r killed: %s", request.rule_id, reason)
        hook = self._on_alert
        if hook is None:
            return
        try:
            hook(alert)
        except Exception:
            log.exception("on_alert hook failed for rule %r", request.rule_id)
