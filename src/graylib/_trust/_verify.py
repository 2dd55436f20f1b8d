"""Which signatures of a file count, and for each one that does not, why.

A signature counts when all of these hold, checked in this order (the first that fails is the reason):

1. the line is a well-formed signature line (``corrupt``);
2. its key is the key of an approver of the trust file in force (``unknown_key`` when the named approver is
   in the trust file with another key; ``not_an_approver`` when the name is not in it: removed or never
   added; ``wrong_approver`` when the key is another approver's);
3. the signature verifies over the line's fields (``bad_signature``: the line was altered, or forged);
4. it signs these exact bytes (``other_bytes``) and this version (``other_version``);
5. it has not expired (``expired``);
6. its approver is not the change's author (``author``) and has not already been counted on an earlier line
   (``duplicate``).

Nothing here raises on the content of a file or a line: every problem is a reason, never a counted signature.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import hashlib
from typing import Any

import attrs

from ._ed25519 import verify
from ._sigfile import CorruptLine, Signature, parse_signatures
from ._trustfile import Trust, person

__all__ = ["NotCounted", "SignatureCheck", "check_signatures", "counted"]


class NotCounted(str, enum.Enum):
    """Why a signature line does not count."""

    CORRUPT = "corrupt"
    UNKNOWN_KEY = "unknown_key"
    NOT_AN_APPROVER = "not_an_approver"
    WRONG_APPROVER = "wrong_approver"
    BAD_SIGNATURE = "bad_signature"
    OTHER_BYTES = "other_bytes"
    OTHER_VERSION = "other_version"
    EXPIRED = "expired"
    AUTHOR = "author"
    DUPLICATE = "duplicate"

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class SignatureCheck:
    """The verdict on one line of a signature file: ``counts``, or ``reason`` and a sentence saying why.

    ``approver`` is the trust file's name for the key when the key is known, else the name the line claims.
    """

    line: int
    approver: str
    key_id: str
    reason: NotCounted | None
    detail: str
    signed_at: str = ""
    expires_at: str | None = None

    @property
    def counts(self) -> bool:
        return self.reason is None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "the file"
        who = f" {self.approver}" if self.approver else ""
        if self.counts:
            return f"{where}{who}: counts"
        return f"{where}{who}: does not count ({self.reason}): {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "approver": self.approver,
            "key_id": self.key_id,
            "counts": self.counts,
            "reason": self.reason.value if self.reason is not None else None,
            "detail": self.detail,
            "signed_at": self.signed_at,
            "expires_at": self.expires_at,
        }


def _check(
    sig: Signature, trust: Trust, sha256: str, version: str, now: dt.datetime
) -> tuple[str, NotCounted | None, str]:
    """(approver name, reason, detail) for one well-formed line, before author and duplicate checks."""
    approver = trust.by_key_id(sig.key_id)
    trust_name = f"trust file version {trust.version}"
    if approver is None:
        named = trust.by_name(sig.approver)
        if named is not None:
            detail = (
                f"key {sig.key_id} is not {named.name}'s key in {trust_name} ({named.key_id}): "
                "an old, lost or another key"
            )
            return sig.approver, NotCounted.UNKNOWN_KEY, detail
        detail = f"{sig.approver!r} is not an approver in {trust_name} (removed, or never added)"
        return sig.approver, NotCounted.NOT_AN_APPROVER, detail
    if person(approver.name) != person(sig.approver):
        detail = f"the line says {sig.approver!r} but key {sig.key_id} is {approver.name}'s"
        return approver.name, NotCounted.WRONG_APPROVER, detail
    try:
        raw = base64.b64decode(sig.signature, validate=True)
    except binascii.Error:
        raw = b""
    if not verify(approver.key, raw, sig.message()):
        detail = "the signature does not verify with the approver's key: the line was altered or forged"
        return approver.name, NotCounted.BAD_SIGNATURE, detail
    if sig.sha256 != sha256:
        detail = (
            f"signed other bytes (sha256 {sig.sha256[:12]}...; this file is {sha256[:12]}...): "
            "the file changed after it was approved"
        )
        return approver.name, NotCounted.OTHER_BYTES, detail
    if sig.config_version != version:
        detail = f"signed version {sig.config_version!r}, this file is version {version!r}"
        return approver.name, NotCounted.OTHER_VERSION, detail
    if sig.expires_at_time is not None and sig.expires_at_time <= now:
        return approver.name, NotCounted.EXPIRED, f"expired at {sig.expires_at}"
    return approver.name, None, "valid"


def check_signatures(
    data: bytes,
    signatures: bytes | None,
    trust: Trust,
    *,
    version: str,
    author: str = "",
    now: dt.datetime | None = None,
) -> tuple[SignatureCheck, ...]:
    """The verdict on every line of ``signatures`` (a signature file's bytes; None: no file) for ``data``.

    ``data`` is the exact bytes of the signed file; ``version`` the version it declares (a rules file's
    ``version``, a trust file's ``version`` as text); ``author`` the change's author, whose own signature
    never counts. ``now`` (default: the current time) decides expiry.
    """
    when = now if now is not None else dt.datetime.now(dt.timezone.utc)
    sha256 = hashlib.sha256(data).hexdigest()
    author_key = person(author) if author.strip() else None
    seen: dict[str, int] = {}
    out: list[SignatureCheck] = []
    for item in parse_signatures(signatures or b""):
        if isinstance(item, CorruptLine):
            out.append(SignatureCheck(item.line, "", "", NotCounted.CORRUPT, item.problem))
            continue
        name, reason, detail = _check(item, trust, sha256, version, when)
        if reason is None and person(name) == author_key:
            reason, detail = NotCounted.AUTHOR, f"{name} is the change's author, who cannot approve it"
        if reason is None and person(name) in seen:
            reason, detail = NotCounted.DUPLICATE, f"{name} already counted on line {seen[person(name)]}"
        if reason is None:
            seen[person(name)] = item.line
        out.append(
            SignatureCheck(item.line, name, item.key_id, reason, detail, item.signed_at, item.expires_at)
        )
    return tuple(out)


def counted(checks: tuple[SignatureCheck, ...]) -> tuple[str, ...]:
    """The approvers whose signatures count, sorted (each once: duplicates never count)."""
    return tuple(sorted(c.approver for c in checks if c.counts))
