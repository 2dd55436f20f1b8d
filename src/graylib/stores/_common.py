"""Small pieces every store shares, so that the three backends cannot drift apart in meaning.

Window arithmetic, the rate-alarm kill reason, the detail texts and the preallocated results that carry no
per-call data live here. Backends import these instead of spelling the rules out again.
"""

from __future__ import annotations

import time
import uuid

from graylib._errors import StoreError
from graylib._values import MAX_MONEY
from graylib.stores._protocol import ReleaseResult, ReserveRequest, ReserveResult, ReserveStatus

__all__ = [
    "ALARM_BUCKETS",
    "ALARM_LIMIT",
    "DEFAULT_RECORD_TTL",
    "ENDED_RETENTION",
    "GRANTED",
    "KILLED",
    "MAX_AMOUNT",
    "MISMATCH",
    "PURGE_BATCH",
    "WINDOW_SLACK",
    "alarm_buckets",
    "alarm_reason",
    "check_exact",
    "check_record_ttl",
    "lifetime_expiry",
    "lost_data",
    "new_epoch",
    "not_found",
    "window_start",
]

DEFAULT_RECORD_TTL = 7 * 86400
"""Seconds a reservation record is kept: replays and releases of older claims are not recognised."""

ENDED_RETENTION = 7 * 86400
"""Seconds the lifetime counters of a rule are kept after its ``ends_at``.

A claim after the end is refused by the client before the store is asked, so the counters serve only a
rule whose end is moved later: extended within this time it keeps its counts; extended later, its lifetime
limits start again from zero. Refunds (``release``) of an ended rule give back nothing once they are gone.
"""

PURGE_BATCH = 32
"""Most expired entries (counters, records) one claim deletes: no single claim pays for a large backlog, and
every claim deletes more than it can create, so a backlog drains."""

WINDOW_SLACK = 60
"""Seconds a window's counter is kept past the window's end before it may be deleted.

A claim's ``now`` is read before the store is reached, and the store may be reached late (a busy SQLite
writer, a slow network, a client clock a little behind): such a claim still counts in the window its ``now``
names, which must then still hold what was granted in it, not read as empty.
"""

ALARM_LIMIT = "rate_alarm"
"""``ReserveResult.limit`` of an ``ALARM_TRIPPED`` answer."""

GRANTED = ReserveResult(ReserveStatus.GRANTED)
"""Preallocated: a grant carries nothing the caller does not already hold (it sent the payload)."""
KILLED = ReserveResult(ReserveStatus.KILLED, detail="kill switch is set")
MISMATCH = ReserveResult(
    ReserveStatus.MISMATCH, detail="payment id already reserved with another fingerprint"
)


MAX_AMOUNT = MAX_MONEY
"""The largest amount, count or cap a reservation may carry.

Redis runs its scripts in Lua 5.1, whose numbers are doubles: integers are exact only up to 2**53, and past
it ``used + amount > cap`` can round to false and grant over the cap. Every cap at most 2**53 - 1 keeps every
limited counter at most that, where the comparisons are exact. (2**53 - 1 minor units is some 90 trillion
of a currency's main unit: no real discount or budget comes near it.)
"""


def check_exact(request: ReserveRequest, store: str) -> None:
    """Raise StoreError when ``request`` carries a number the store cannot count exactly.

    The amount, every cap and the rate alarm's amount must be between 0 and ``MAX_AMOUNT``; windows must not
    be negative. A negative amount would lower counters instead of raising them.
    """
    problem = ""
    amount = request.amount
    if not 0 <= amount <= MAX_AMOUNT:
        problem = f"amount {amount}"
    elif request.alarm_amount is not None and not 0 <= request.alarm_amount <= MAX_AMOUNT:
        problem = f"alarm_amount {request.alarm_amount}"
    elif not 0 <= request.payment_amount <= MAX_AMOUNT:
        problem = f"payment_amount {request.payment_amount}"
    else:
        for spec in request.counters:
            count, cap = spec.max_count, spec.max_amount
            if count is not None and not 0 <= count <= MAX_AMOUNT:
                problem = f"{spec.name}: max_count {count}"
            elif cap is not None and not 0 <= cap <= MAX_AMOUNT:
                problem = f"{spec.name}: max_amount {cap}"
            elif spec.window < 0:
                msg = f"{store}: {spec.name}: window must be 0 (lifetime) or positive (got {spec.window})"
                raise StoreError(msg)
            if problem:
                break
    if problem:
        msg = f"{store}: {problem} is outside 0..{MAX_AMOUNT}, the range this store counts exactly"
        raise StoreError(msg)


def check_record_ttl(record_ttl: float, store: str) -> None:
    """Raise ValueError unless ``record_ttl`` is a positive number of seconds.

    A record that expires at once (0, or less) would make every retry of a claim count again.
    """
    if not record_ttl > 0:
        msg = f"{store}: record_ttl must be a positive number of seconds (got {record_ttl!r})"
        raise ValueError(msg)


def lifetime_expiry(request: ReserveRequest) -> float | None:
    """When the request's lifetime counters may go: ``ENDED_RETENTION`` after the rule's end, or never."""
    ends_at = request.ends_at
    return None if ends_at is None else ends_at + ENDED_RETENTION


def window_start(now: float, window: int) -> int:
    """Start (epoch seconds) of the fixed window of length ``window`` holding ``now``; 0 for lifetime."""
    if window:
        return int(now // window * window)
    return 0


ALARM_BUCKETS = 60
"""The rate alarm sums its trailing window in this many sub-buckets (plus the one ``now`` falls in)."""


def alarm_buckets(now: float, window: int) -> tuple[int, int, int]:
    """(bucket width, start of the bucket holding ``now``, start of the oldest bucket to sum).

    The rate alarm keeps what was granted per bucket of ``ceil(window / ALARM_BUCKETS)`` seconds, aligned
    to the epoch, and a claim sums every bucket starting at or after the oldest one. A grant at any time in
    ``(now - window, now]`` lies in a bucket that is summed (``floor`` is monotonic), so no span of
    ``window`` seconds ever grants past the alarm unnoticed. The sum may also hold grants up to one bucket
    older than the window (at most ``window / 60`` seconds more): the alarm errs on the side of tripping.
    A lifetime alarm (``window == 0``) has one bucket, 0. Grants stamped ahead of ``now`` (a client clock
    ahead) are summed too.
    """
    if not window:
        return 0, 0, 0
    width = -(-window // ALARM_BUCKETS)
    return width, int(now // width * width), int((now - window) // width * width)


def alarm_reason(amount: int, granted: int, alarm_amount: int, window: int) -> str:
    """The kill-switch reason written when a grant of ``amount`` would pass the rate alarm."""
    span = f"within {window}s" if window else "over the rule's lifetime"
    return f"rate_alarm: granting {amount} would take {granted + amount} past {alarm_amount} {span}"


def not_found(payment_id: str) -> ReleaseResult:
    """The answer of ``release`` for a payment with no reservation (unknown, released or expired)."""
    return ReleaseResult(False, 0, f"no reservation for payment {payment_id!r}")


def new_epoch() -> str:
    """A fresh epoch for ``initialise``: when (UTC seconds) and a random part, so no two are alike."""
    return f"{int(time.time())}-{uuid.uuid4().hex[:16]}"


def lost_data(store: str, seen: str | None, found: str | None) -> StoreError:
    """The StoreError for a store whose epoch marker is not the one this instance saw (or none at all)."""
    advice = (
        "claims fail closed until an operator re-initialises it (`graylib init-store`, docs/operations.md)"
    )
    if seen is None:
        what = (
            "the store has no graylib epoch marker: it was never initialised, or it lost its data (restarted"
            " empty, flushed, or failed over to a replica without it)"
        )
    elif found is None:
        what = (
            f"the store lost its data: its epoch marker ({seen}) is gone (restarted empty, flushed, or failed"
            " over to a replica without it)"
        )
    else:
        what = f"the store lost its data and was initialised again (epoch {seen} -> {found})"
        advice = "restart this process, so that it starts from the new store's state"
    return StoreError(f"{store}: {what}; {advice}")
