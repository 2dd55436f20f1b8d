"""Small pieces every store shares, so that the three backends cannot drift apart in meaning.

Window arithmetic, the rate-alarm kill reason, the detail texts and the preallocated results that carry no
per-call data live here. Backends import these instead of spelling the rules out again.
"""

from __future__ import annotations

from graylib.stores._protocol import ReleaseResult, ReserveResult, ReserveStatus

__all__ = [
    "ALARM_LIMIT",
    "DEFAULT_RECORD_TTL",
    "GRANTED",
    "KILLED",
    "MISMATCH",
    "WINDOW_SLACK",
    "alarm_reason",
    "not_found",
    "window_start",
]

DEFAULT_RECORD_TTL = 7 * 86400
"""Seconds a reservation record is kept: replays and releases of older claims are not recognised."""

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


def window_start(now: float, window: int) -> int:
    """Start (epoch seconds) of the fixed window of length ``window`` holding ``now``; 0 for lifetime."""
    if window:
        return int(now // window * window)
    return 0


def alarm_reason(amount: int, granted: int, alarm_amount: int, window: int) -> str:
    """The kill-switch reason written when a grant of ``amount`` would pass the rate alarm."""
    span = f"in {window}s window" if window else "over the rule's lifetime"
    return f"rate_alarm: granting {amount} would take {granted + amount} past {alarm_amount} {span}"


def not_found(payment_id: str) -> ReleaseResult:
    """The answer of ``release`` for a payment with no reservation (unknown, released or expired)."""
    return ReleaseResult(False, 0, f"no reservation for payment {payment_id!r}")
