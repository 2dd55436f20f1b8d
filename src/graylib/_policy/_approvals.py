"""Signed approvals as the change policy counts them.

With a trust file, the approvals of a change are the valid signatures over the new text's exact bytes, from
distinct approvers of the trust file who are not the change's author (``_trust.check_signatures`` decides
each line); the trust file's ``threshold`` replaces ``[guardrails].min_approvals``, and the names in
``[change].approved_by`` are only shown, as claimed. ``plan_change(old, new, approvals=...)`` takes the
value built here, so ``graylib plan``, publishing and every reloading client count approvals the same way.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from .._config import Config
from .._trust import SignatureCheck, Trust, check_signatures, counted

__all__ = ["SignedApprovals", "missing_signatures", "signed_approvals"]


@attrs.frozen
class SignedApprovals:
    """The verdict on every signature of a new config, under the trust file (``trust_version``) in force.

    ``approvers`` are those whose signatures count (distinct, never the author); ``threshold`` is how many a
    widening change needs.
    """

    trust_version: int
    threshold: int
    checks: tuple[SignatureCheck, ...]

    @property
    def approvers(self) -> tuple[str, ...]:
        return counted(self.checks)

    @property
    def not_counted(self) -> tuple[SignatureCheck, ...]:
        return tuple(c for c in self.checks if not c.counts)

    def refusals(self) -> str:
        """``; not counted: line 2 li.wei (author), ...`` for messages; empty when every signature counts."""
        refused = ", ".join(
            f"line {c.line}{' ' + c.approver if c.approver else ''} ({c.reason})" for c in self.not_counted
        )
        return f"; not counted: {refused}" if refused else ""

    def trust_dict(self) -> dict[str, Any]:
        """The trust file the signatures were checked against, as ``graylib plan --json`` shows it."""
        return {"version": self.trust_version, "threshold": self.threshold}


def signed_approvals(
    new: Config,
    data: bytes,
    signatures: bytes | None,
    trust: Trust,
    *,
    now: dt.datetime | None = None,
) -> SignedApprovals:
    """The approvals of ``new`` proven by ``signatures`` (its signature file's bytes; None: no file).

    ``data`` must be the exact bytes ``new`` was parsed from (not text decoded and encoded again: newline
    translation or a byte-order mark would change them). ``now`` (default: the current time) decides expiry.
    """
    checks = check_signatures(data, signatures, trust, version=new.version, author=new.change.author, now=now)
    return SignedApprovals(trust_version=trust.version, threshold=trust.threshold, checks=checks)


def missing_signatures(approvals: SignedApprovals) -> str | None:
    """Why a config with nothing approved to compare it against cannot be served: fewer valid signatures than
    the threshold (None when it has enough). A client that starts with no last good copy checks this, since
    it cannot tell what the config widens."""
    if len(approvals.approvers) >= approvals.threshold:
        return None
    counted = ", ".join(approvals.approvers) or "none"
    return (
        f"needs {approvals.threshold} valid signatures from approvers of trust file version "
        f"{approvals.trust_version}; {len(approvals.approvers)} count ({counted}){approvals.refusals()}"
    )
