"""A rule's limits, prepared once per snapshot, turn a payment and its decision into one ``ReserveRequest``.

``LimitPlan`` is built the first time a rule is claimed under a snapshot and reused for every later claim of
that rule under the same snapshot: which limit kinds exist, which context field each one counts by, their
windows and caps, the ``total`` counter (one object for every claim), the rate alarm and the detail texts.
A claim then only reads the context fields it needs, names one counter per ``per_X`` limit and serializes
the decision.

Counters are named ``"{kind}:{value}"`` (``"per_account:u-1"``, ``"per_ip:203.0.113.7"``) or ``"total"``.
A ``per_X`` limit whose context field is empty (or not a string) refuses the claim before any store call:
a payment that cannot be counted is not granted (fail closed), and the refusal names the missing field.
``per_ip`` counts the address in one canonical form, and IPv6 by its /64 (``_iprange.limit_key``), so the
same subscriber is one counter however its address is written; an IP that does not parse is refused the
same way as a missing one.

The fingerprint is what makes a payment this payment: account, payment type, amount and merchant. Another
claim with the same payment id and another fingerprint is refused by the store (payment id reuse). The
region, IP and device are left out on purpose: a retry of the same payment may arrive over another network,
and a replay counts nothing new, so it cannot overspend. The payload is the decision in compact JSON, so a
replay returns the first decision field for field.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Final

import msgspec

from ._config import Limit, Rule
from ._config._model import LIMIT_SUBJECTS
from ._iprange import limit_key
from ._values import MAX_FIELD_LENGTH, Context, Decision, field_problem
from .stores import NO_ORIGIN, CounterSpec, LedgerOrigin, ReserveRequest

__all__ = ["LimitPlan", "LimitRefusal", "decode_decision", "describe_limit", "encode_decision"]

_encode: Final = msgspec.json.Encoder().encode
_decoder: Final = msgspec.json.Decoder(Decision)

_REQUEST_FIELDS = (
    "rule_id",
    "payment_id",
    "fingerprint",
    "amount",
    "counters",
    "payload",
    "now",
    "alarm_amount",
    "alarm_window",
    "shadow",
    "ends_at",
    "account",
    "payment_amount",
    "origin",
)
"""The leading fields of ``ReserveRequest``, which ``LimitPlan.request`` passes positionally."""
_names = ReserveRequest.__struct_fields__
if (
    _names[: len(_REQUEST_FIELDS)] != _REQUEST_FIELDS
):  # pragma: no cover - fails loudly at import, not per claim
    _msg = f"graylib._limits passes ReserveRequest fields positionally as {_REQUEST_FIELDS}, got {_names}"
    raise ImportError(_msg)

_FINGERPRINT_FIELDS = ("payment_id", "account", "payment_type", "merchant")
"""The context fields every claim stores: its payment id, and the fingerprint (see the module docstring)."""
_fingerprint: Final = attrgetter("account", "payment_type", "amount", "merchant")
"""The fingerprint's context fields, read in one call."""
_Subject = tuple[str, str, int, "int | None", "int | None"]
"""(kind, context field, window seconds, max count, max amount) of one ``per_X`` limit."""


class LimitRefusal(str):
    """The detail of a claim refused before the store call, which also says which kind of limit refused."""

    __slots__ = ("limit",)

    def __new__(cls, limit: str, detail: str) -> LimitRefusal:
        refusal = super().__new__(cls, detail)
        refusal.limit = limit
        return refusal

    limit: str


def encode_decision(decision: Decision) -> str:
    """The decision as compact JSON text: what the store keeps and returns on a replay."""
    return _encode(decision).decode()


def decode_decision(payload: str) -> Decision:
    """The decision a claim stored with its reservation (raises ``msgspec.DecodeError`` if unreadable)."""
    return _decoder.decode(payload)


def describe_limit(limit: Limit, *, amount: Callable[[int], str] = str) -> str:
    """``"count 3, amount 100000, per 1d"``: a limit's caps and window, as the rules file says them.

    ``amount`` writes the amount cap (a plan shows it as money, a refusal in the file's minor units).
    """
    caps = []
    if limit.count is not None:
        caps.append(f"count {limit.count}")
    if limit.amount is not None:
        caps.append(f"amount {amount(limit.amount)}")
    caps.append(f"per {limit.window_text}" if limit.window else "lifetime")
    return ", ".join(caps)


class LimitPlan:
    """Everything about one rule's limits that does not depend on the payment, computed once per snapshot.

    ``guarded`` is true when the rule has a limit or a rate alarm: such a rule can only be claimed with a
    payment id, because the payment id is what makes a retry count once and a release give back exactly.
    """

    __slots__ = (
        "alarm_amount",
        "alarm_window",
        "descriptions",
        "ends_at",
        "fixed",
        "guarded",
        "origin",
        "read_stored",
        "rule_id",
        "stored_fields",
        "subjects",
    )

    def __init__(self, rule: Rule, origin: LedgerOrigin = NO_ORIGIN) -> None:
        self.rule_id: str = rule.id
        self.origin: LedgerOrigin = origin
        """The config and client that decide this rule's claims: what their ledger entries record."""
        subjects: list[_Subject] = []
        fixed: list[CounterSpec] = []
        descriptions: dict[str, str] = {}
        for kind in LIMIT_SUBJECTS:
            limit: Limit | None = getattr(rule.limits, kind)
            if limit is None:
                continue
            descriptions[kind] = describe_limit(limit)
            if kind == "total":
                fixed.append(CounterSpec("total", limit.window, limit.count, limit.amount))
            else:
                subjects.append((kind, kind[4:], limit.window, limit.count, limit.amount))
        alarm = rule.limits.rate_alarm
        self.subjects: tuple[_Subject, ...] = tuple(subjects)
        self.fixed: tuple[CounterSpec, ...] = tuple(fixed)
        self.descriptions: dict[str, str] = descriptions
        self.alarm_amount: int | None = alarm.amount if alarm is not None else None
        self.alarm_window: int = alarm.window if alarm is not None else 0
        self.guarded: bool = bool(subjects or fixed or alarm is not None)
        self.stored_fields: tuple[str, ...] = (*_FINGERPRINT_FIELDS, *(s[1] for s in subjects))
        """The context fields a claim of this rule stores: the payment id, the fingerprint, the counters'."""
        self.read_stored: Callable[[Context], tuple[object, ...]] = attrgetter(*self.stored_fields)
        """Reads every stored field of a context in one call, in ``stored_fields`` order."""
        self.ends_at: float | None = rule.ends_at.timestamp() if rule.ends_at is not None else None

    def unusable(self, ctx: Context) -> str | None:
        """The detail refusing a payment whose stored fields are too long or not valid text, or None."""
        for value in self.read_stored(ctx):
            # Short ASCII text is fine: only other values pay for the full check, which names the field.
            if type(value) is str and (len(value) > MAX_FIELD_LENGTH or not value.isascii()):
                return self._problem(ctx)
        return None

    def _problem(self, ctx: Context) -> str | None:
        """The first stored field of the context that is too long or not valid text, named, or None."""
        for name in self.stored_fields:
            value = getattr(ctx, name)
            if type(value) is str and (len(value) > MAX_FIELD_LENGTH or not value.isascii()):
                problem = field_problem(name, value)
                if problem is not None:
                    return problem
        return None

    def request(
        self, ctx: Context, decision: Decision, now: float, *, shadow: bool
    ) -> ReserveRequest | LimitRefusal:
        """The reservation for this payment, or the refusal (its text, naming the limit kind) when a limited
        field is missing.

        The caller has checked that ``ctx.payment_id`` is a non-empty string.
        """
        counters: tuple[CounterSpec, ...] = self.fixed
        if self.subjects:
            named: list[CounterSpec] = []
            for kind, field, window, max_count, max_amount in self.subjects:
                value = getattr(ctx, field)
                if type(value) is not str or not value:
                    return LimitRefusal(
                        kind, f"{kind}: the payment has no {field}, so the limit cannot count it"
                    )
                if field == "ip":
                    key = limit_key(value)
                    if key is None:
                        shown = value[:64]
                        why = "is not an IP address, so the limit cannot count it"
                        return LimitRefusal(kind, f"{kind}: the payment's ip {shown!r} {why}")
                    value = key
                named.append(CounterSpec(f"{kind}:{value}", window, max_count, max_amount))
            counters = (*named, *counters)
        # Positional: a third cheaper than keywords on this path; the order is checked at import (below).
        return ReserveRequest(
            self.rule_id,
            ctx.payment_id,
            _encode(_fingerprint(ctx)).decode(),
            decision.discount,
            counters,
            _encode(decision).decode(),
            now,
            self.alarm_amount,
            self.alarm_window,
            shadow,
            self.ends_at,
            ctx.account if type(ctx.account) is str else "",
            ctx.amount if type(ctx.amount) is int else 0,
            self.origin,
        )

    def full(self, counter: str) -> str:
        """The detail of a ``LIMIT_REACHED`` refusal for the counter the store named."""
        caps = self.descriptions.get(counter.partition(":")[0])
        return f"limit reached: {counter} is full ({caps})" if caps else f"limit reached: {counter} is full"
