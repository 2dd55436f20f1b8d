"""What the signature commands share: reading a signed file, its signatures and a trust file, and showing
signature verdicts. Every read error becomes one message naming the file (the commands exit 2 on it)."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from typing import Any

from .._config import format_of, parse_text
from .._config._time import FORMS, parse_datetime
from .._errors import ConfigError
from .._trust import SignatureCheck, Trust, load_trust, read_bounded, read_signature_file, signature_path

__all__ = [
    "SIGNATURES_HELP",
    "TRUST_HELP",
    "InputError",
    "document_of",
    "parse_expiry",
    "read_signatures",
    "read_trust",
    "render_checks",
]

TRUST_HELP = "the trust file in force: approvers, their public keys and the threshold (TOML)"
SIGNATURES_HELP = "the signature file to read (default: the file's name with .sig added)"
_DURATION = re.compile(r"([1-9][0-9]{0,5})([mhd])")
_UNIT = {"m": 60, "h": 3600, "d": 86400}


class InputError(Exception):
    """An input the command cannot use; its message names the file and the problem."""


def read_trust(path: str) -> Trust:
    try:
        return load_trust(path)
    except ConfigError as exc:
        lines = "\n".join(f"  - {p}" for p in exc.problems)
        msg = f"{path}: invalid trust file ({len(exc.problems)} problem(s)):\n{lines}"
        raise InputError(msg) from exc


def read_signatures(file: str, explicit: str | None) -> tuple[str, bytes | None]:
    """(path, bytes) of ``file``'s signatures; a missing default ``FILE.sig`` is no signatures (None), a
    missing ``--signatures`` file is an error."""
    path = explicit or os.fspath(signature_path(file))
    try:
        return path, read_signature_file(path)
    except FileNotFoundError:
        if explicit is None:
            return path, None
        msg = f"{path}: no such signature file"
        raise InputError(msg) from None
    except OSError as exc:
        msg = f"{path}: cannot read: {exc}"
        raise InputError(msg) from exc


def document_of(path: str) -> tuple[bytes, Mapping[str, Any], str]:
    """A signed file's exact bytes, its parsed document and its declared ``version`` as text."""
    try:
        data = read_bounded(path)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError([f"not UTF-8 text ({exc})"], source=path) from exc
        document = parse_text(text, format_of(path), source=path)
    except ConfigError as exc:
        raise InputError(str(exc)) from exc
    if not isinstance(document, Mapping):
        msg = f"{path}: not a table of keys (got {type(document).__name__})"
        raise InputError(msg)
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, str | int) or not str(version).strip():
        msg = f"{path}: version: required, a text or an integer (what a signature binds the bytes to)"
        raise InputError(msg)
    return data, document, str(version)


def author_of(document: Mapping[str, Any]) -> str:
    change = document.get("change")
    author = change.get("author") if isinstance(change, Mapping) else None
    return author if isinstance(author, str) else ""


def parse_expiry(text: str, now: dt.datetime) -> dt.datetime:
    """``--expires``: a duration from now (``30m``, ``12h``, ``7d``) or an RFC 3339 date-time."""
    match = _DURATION.fullmatch(text.strip())
    if match:
        return now + dt.timedelta(seconds=int(match.group(1)) * _UNIT[match.group(2)])
    try:
        when = parse_datetime(text.strip())
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        msg = f"--expires: must be a duration such as 12h or 7d, or a date-time {FORMS} (got {text!r})"
        raise InputError(msg)
    if when <= now:
        msg = f"--expires: {text} is not in the future"
        raise InputError(msg)
    return when


def render_checks(checks: tuple[SignatureCheck, ...]) -> list[str]:
    """One line per signature: ``counts`` or ``does not count`` with the reason."""
    if not checks:
        return ["  (no signatures)"]
    lines = []
    for check in checks:
        mark = "ok" if check.counts else "no"
        lines.append(f"  {mark} {check}")
    return lines
