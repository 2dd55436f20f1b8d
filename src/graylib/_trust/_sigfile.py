"""Signature files: ``FILE.sig`` beside ``FILE``, one JSON object a line, each one approver's signature.

A line::

    {"approver": "zhang.min", "key_id": "ed25519:3f2a...", "sha256": "<hex of FILE's exact bytes>",
     "config_version": "2025-01-16.1", "signed_at": "2025-01-16T08:00:00Z",
     "expires_at": "2025-01-23T08:00:00Z", "signature": "<base64 of 64 bytes>"}

``expires_at`` may be absent (or null). What is signed is ``message(...)``: a fixed domain prefix and the
other six fields as canonical JSON (sorted keys, no spaces, ASCII), so every field of the line is bound by the
signature: changing the approver, the key, the bytes, the version or either time breaks it.

``read_signatures`` never raises on content: a line that is not such an object comes back as a
``CorruptLine`` with its number and the problem, and is never counted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from .._config._time import parse_datetime
from ._keys import check_name

__all__ = [
    "MAX_SIGNATURE_FILE_BYTES",
    "CorruptLine",
    "Signature",
    "format_time",
    "message",
    "parse_signatures",
    "read_signature_file",
    "signature_path",
    "signatures_beside",
]

DOMAIN = b"graylib approval v1\n"
"""Prefix of every signed message, so a graylib approval signature means nothing in any other protocol."""
MAX_SIGNATURE_FILE_BYTES = 1024 * 1024
"""A signature file is read up to this size (about 3,000 signatures); the rest is reported, never read."""
_MAX_LINE = 4096
_FIELDS = ("approver", "key_id", "sha256", "config_version", "signed_at", "expires_at", "signature")
_REQUIRED = ("approver", "key_id", "sha256", "config_version", "signed_at", "signature")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"ed25519:[0-9a-f]{16}")
_BASE64_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{86}==")


def signature_path(path: str | os.PathLike[str]) -> Path:
    """Where the signatures of ``path`` live: the same name with ``.sig`` added."""
    return Path(os.fspath(path) + ".sig")


def format_time(when: dt.datetime) -> str:
    """A UTC time as a signature line writes it: ``2025-01-16T08:00:00Z`` (whole seconds)."""
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def message(
    *,
    approver: str,
    key_id: str,
    sha256: str,
    config_version: str,
    signed_at: str,
    expires_at: str | None,
) -> bytes:
    """The exact bytes an approval signature signs."""
    body = {
        "approver": approver,
        "config_version": config_version,
        "expires_at": expires_at,
        "key_id": key_id,
        "sha256": sha256,
        "signed_at": signed_at,
    }
    return DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


@attrs.frozen
class Signature:
    """One well-formed signature line (not yet verified: ``_verify`` decides whether it counts)."""

    line: int
    approver: str
    key_id: str
    sha256: str
    config_version: str
    signed_at: str
    expires_at: str | None
    signature: str
    signed_at_time: dt.datetime
    expires_at_time: dt.datetime | None

    def message(self) -> bytes:
        return message(
            approver=self.approver,
            key_id=self.key_id,
            sha256=self.sha256,
            config_version=self.config_version,
            signed_at=self.signed_at,
            expires_at=self.expires_at,
        )

    def to_line(self) -> str:
        """The line as ``approve`` writes it (``expires_at`` left out when there is none)."""
        data: dict[str, Any] = {
            "approver": self.approver,
            "key_id": self.key_id,
            "sha256": self.sha256,
            "config_version": self.config_version,
            "signed_at": self.signed_at,
        }
        if self.expires_at is not None:
            data["expires_at"] = self.expires_at
        data["signature"] = self.signature
        return json.dumps(data, ensure_ascii=True, separators=(", ", ": "))


@attrs.frozen
class CorruptLine:
    """A line of a signature file that is not a signature; ``line`` 0 is the file as a whole."""

    line: int
    problem: str


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        msg = f"key {repeated[0]!r} given more than once"
        raise ValueError(msg)
    return dict(pairs)


def _time(data: dict[str, Any], field: str) -> tuple[str, dt.datetime]:
    text = data[field]
    if not isinstance(text, str):
        msg = f"{field} must be a date-time text (got {type(text).__name__})"
        raise ValueError(msg)
    try:
        when = parse_datetime(text)
    except ValueError as exc:
        msg = f"{field}: {exc}"
        raise ValueError(msg) from None
    if when.tzinfo is None:
        msg = f"{field} must include a UTC offset or Z (got {text!r})"
        raise ValueError(msg)
    return text, when


def _string(data: dict[str, Any], field: str, pattern: re.Pattern[str] | None, expected: str) -> str:
    value = data[field]
    if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(value)):
        shown = repr(value)[:40] if isinstance(value, str) else type(value).__name__
        msg = f"{field} must be {expected} (got {shown})"
        raise ValueError(msg)
    return value


def _signature(number: int, text: str) -> Signature:
    data = json.loads(text, object_pairs_hook=_unique_keys)
    if not isinstance(data, dict):
        msg = f"not a JSON object (got {type(data).__name__})"
        raise ValueError(msg)
    unknown = sorted(set(data) - set(_FIELDS))
    missing = [field for field in _REQUIRED if field not in data]
    if unknown or missing:
        parts = [f"unknown field {', '.join(map(repr, unknown))}"] if unknown else []
        parts += [f"missing {', '.join(missing)}"] if missing else []
        raise ValueError("; ".join(parts))
    problem = check_name(data["approver"])
    if problem is not None:
        msg = f"approver {problem}"
        raise ValueError(msg)
    key = _string(data, "key_id", _KEY_ID, "'ed25519:' and 16 hex digits")
    sha256 = _string(data, "sha256", _SHA256, "64 lowercase hex digits")
    version = _string(data, "config_version", None, "a text")
    signature = _string(data, "signature", _BASE64_SIGNATURE, "the base64 of a 64-byte signature")
    signed_at, signed_time = _time(data, "signed_at")
    expires_at: str | None = None
    expires_time: dt.datetime | None = None
    if data.get("expires_at") is not None:
        expires_at, expires_time = _time(data, "expires_at")
    return Signature(
        line=number,
        approver=data["approver"],
        key_id=key,
        sha256=sha256,
        config_version=version,
        signed_at=signed_at,
        expires_at=expires_at,
        signature=signature,
        signed_at_time=signed_time,
        expires_at_time=expires_time,
    )


def _lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if raw.strip():
            yield number, raw


def parse_signatures(data: bytes) -> list[Signature | CorruptLine]:
    """Every non-blank line of a signature file's bytes, as a ``Signature`` or a ``CorruptLine``."""
    out: list[Signature | CorruptLine] = []
    if len(data) > MAX_SIGNATURE_FILE_BYTES:
        cut = data.rfind(b"\n", 0, MAX_SIGNATURE_FILE_BYTES)
        data = data[: max(cut, 0)]
        problem = f"larger than {MAX_SIGNATURE_FILE_BYTES:,} bytes: lines past that were not read"
        out.append(CorruptLine(0, problem))
    for number, raw in _lines(data):
        if len(raw) > _MAX_LINE:
            out.append(CorruptLine(number, f"longer than {_MAX_LINE} bytes: not a signature line"))
            continue
        try:
            text = raw.decode("utf-8")
            out.append(_signature(number, text))
        except UnicodeDecodeError:
            out.append(CorruptLine(number, "not UTF-8 text"))
        except RecursionError:
            out.append(CorruptLine(number, "nested too deep: not a signature line"))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            out.append(CorruptLine(number, f"not a signature line: {exc}"))
    return out


def read_signature_file(path: str | os.PathLike[str]) -> bytes:
    """A signature file's bytes, up to one byte past the size limit; ``OSError`` if unreadable."""
    with Path(path).open("rb") as file:
        return file.read(MAX_SIGNATURE_FILE_BYTES + 1)


def signatures_beside(path: str | os.PathLike[str]) -> bytes | None:
    """The signature file of ``path`` (``path`` + ``.sig``), or None when there is none.

    What a reloading client reads together with the rules file: no file means no signatures (a narrowing
    change needs none); a file that exists but cannot be read raises ``OSError``.
    """
    try:
        return read_signature_file(signature_path(path))
    except FileNotFoundError:
        return None
