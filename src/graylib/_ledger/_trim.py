"""When a rule's ledger may be trimmed: never inside the longest limit window of a rule still running.

The entries of the current windows are what explain the counters a running rule is being limited by; an
auditor asking "why is this account at its limit?" needs them. A rule that has ended (``ends_at`` in the
past) may be trimmed at any time; a running rule with a lifetime limit (or lifetime rate alarm) has one
window, its whole life, so none of its ledger may be trimmed while it runs.
"""

from __future__ import annotations

import datetime as dt

from .._config import Rule

__all__ = ["trim_refusal", "utc"]


def utc(at: float) -> str:
    """``at`` (seconds since the epoch) as an RFC 3339 UTC time."""
    return dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def trim_refusal(rule: Rule, before: float, now: float) -> str:
    """Why the rule's ledger must not be trimmed before ``before`` at ``now``, or empty when it may be."""
    if rule.ends_at is not None and rule.ends_at.timestamp() <= now:
        return ""
    windows = [(limit.window, limit.window_text) for _, limit in rule.limits.items()]
    alarm = rule.limits.rate_alarm
    if alarm is not None:
        windows.append((alarm.window, alarm.window_text))
    if not windows:
        return ""
    if any(window == 0 for window, _ in windows):
        return (
            f"rule {rule.id!r} is still running and has a lifetime limit: its whole ledger is inside that"
            " window (trim it once the rule has ended)"
        )
    longest, text = max(windows)
    if before > now - longest:
        return (
            f"rule {rule.id!r} is still running and its longest limit window is {text}: trim only"
            f" before {utc(now - longest)} (now minus {text})"
        )
    return ""
