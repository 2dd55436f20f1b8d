"""A change of the trust file is an approved act: ``check_trust_change``.

A new trust file replaces the one in force only when it is valid, its version is higher, and ``threshold``
approvers of the trust file in force (not of the new one: a new file cannot approve itself) signed its exact
bytes and version. So a key rotation, a new approver or a new threshold needs the people already trusted,
and someone with write access to the trust file alone can change nothing.
"""

from __future__ import annotations

import datetime as dt

import attrs

from .._errors import ConfigError
from ._trustfile import Trust, parse_trust
from ._verify import SignatureCheck, check_signatures, counted

__all__ = ["TrustChange", "check_trust_change"]


@attrs.frozen
class TrustChange:
    """The verdict on replacing ``current`` by a new trust file: ``accepted``, else ``reasons``."""

    accepted: bool
    current_version: int
    threshold: int
    new: Trust | None
    reasons: tuple[str, ...]
    checks: tuple[SignatureCheck, ...] = ()
    approvers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "current_version": self.current_version,
            "new_version": self.new.version if self.new is not None else None,
            "threshold": self.threshold,
            "approvers": list(self.approvers),
            "reasons": list(self.reasons),
            "signatures": [c.to_dict() for c in self.checks],
        }


def check_trust_change(
    current: Trust,
    new_data: bytes,
    signatures: bytes | None,
    *,
    source: str = "",
    now: dt.datetime | None = None,
) -> TrustChange:
    """Whether the trust file whose exact bytes are ``new_data`` may replace ``current``.

    ``signatures`` is the new file's signature file (bytes; None when there is none). Never raises for bad
    input: an invalid new file is refused with its problems as reasons.
    """
    try:
        new = parse_trust(new_data, source=source)
    except ConfigError as exc:
        problems = tuple(f"invalid: {p}" for p in exc.problems)
        return TrustChange(False, current.version, current.threshold, None, problems)
    if new.digest == current.digest:
        same = ("unchanged: the same bytes as the trust file in force",)
        return TrustChange(True, current.version, current.threshold, new, same)
    reasons: list[str] = []
    if new.version <= current.version:
        reasons.append(
            f"version {new.version} is not higher than the version in force, {current.version}: "
            "a trust file's version only increases"
        )
    checks = check_signatures(new_data, signatures, current, version=str(new.version), now=now)
    approvers = counted(checks)
    if len(approvers) < current.threshold:
        reasons.append(
            f"needs {current.threshold} valid signatures from approvers of trust file version "
            f"{current.version}; {len(approvers)} count ({', '.join(approvers) or 'none'})"
        )
    verdict = not reasons
    return TrustChange(verdict, current.version, current.threshold, new, tuple(reasons), checks, approvers)
