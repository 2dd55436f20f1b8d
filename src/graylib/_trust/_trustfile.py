"""The trust file: who may approve, with which public key, and how many must.

::

    version = 1          # only increases: a trust file with a lower version never replaces one in force
    threshold = 2        # valid signatures a widening change needs (replaces [guardrails].min_approvals)

    [[approvers]]
    name = "zhang.min"
    key = "ed25519:<base64 public key>"

It is TOML, read with the same bounds as a rules file, and validated the same way: every problem is reported
with its path (``approvers[1].key: ...``) in one ``ConfigError``. Names are compared as people are
(``person``: case and extra whitespace do not make another person), so one person cannot be listed twice.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .._config._checks import Problems, describe
from .._config._document import MAX_DOCUMENT_CHARS, check_document
from .._config._read import parse_text
from .._errors import ConfigError
from ._ed25519 import require_signing
from ._keys import check_name, decode_key, key_id

__all__ = ["Approver", "Trust", "load_trust", "parse_trust", "person"]

MAX_APPROVERS = 1000


def person(name: str) -> str:
    """The identity a name stands for: case and whitespace do not make another person."""
    return " ".join(name.split()).casefold()


@attrs.frozen
class Approver:
    """One person who may approve, and the public key their signatures verify with."""

    name: str
    key: bytes
    key_id: str


@attrs.frozen
class Trust:
    """A validated trust file. ``digest`` is the sha256 of its exact bytes (what a rotation signs)."""

    version: int
    threshold: int
    approvers: tuple[Approver, ...]
    digest: str
    source: str = ""

    def by_key_id(self, wanted: str) -> Approver | None:
        for approver in self.approvers:
            if approver.key_id == wanted:
                return approver
        return None

    def by_name(self, name: str) -> Approver | None:
        wanted = person(name)
        for approver in self.approvers:
            if person(approver.name) == wanted:
                return approver
        return None


def _approvers(p: Problems, raw: Any) -> list[Approver]:
    if not isinstance(raw, list):
        p.add("approvers", f"must be an array of tables ([[approvers]]) (got {describe(raw)})")
        return []
    if not raw:
        p.add("approvers", "must list at least one approver")
    if len(raw) > MAX_APPROVERS:
        p.add("approvers", f"must list at most {MAX_APPROVERS} approvers (got {len(raw)})")
        return []
    out: list[Approver] = []
    names: dict[str, int] = {}
    keys: dict[bytes, int] = {}
    for i, entry in enumerate(raw):
        path = f"approvers[{i}]"
        table = p.table(path, entry)
        if table is None:
            continue
        p.keys(path, table, ("name", "key"), ("name", "key"))
        name = table.get("name")
        if "name" in table and (problem := check_name(name)) is not None:
            p.add(f"{path}.name", problem)
            name = None
        key: bytes | None = None
        if "key" in table:
            try:
                key = decode_key(table["key"], what="public key")
            except ValueError as exc:
                p.add(f"{path}.key", str(exc))
        if isinstance(name, str):
            if person(name) in names:
                p.add(f"{path}.name", f"{name!r} is listed twice (also approvers[{names[person(name)]}])")
                name = None
            else:
                names[person(name)] = i
        if key is not None:
            if key in keys:
                p.add(f"{path}.key", f"the same key as approvers[{keys[key]}]: one key, one approver")
                key = None
            else:
                keys[key] = i
        if isinstance(name, str) and key is not None:
            out.append(Approver(name=" ".join(name.split()), key=key, key_id=key_id(key)))
    return out


def parse_trust(data: bytes, *, source: str = "") -> Trust:
    """Validate a trust file's exact bytes; ``ConfigError`` with every problem and its path."""
    src = source or None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"not UTF-8 text ({exc})"], source=src) from exc
    document = parse_text(text, "toml", source=source)
    unsafe = check_document(document)
    if unsafe:
        raise ConfigError(unsafe, source=src)
    p = Problems()
    top: Mapping[str, Any] | None = p.table("trust", document)
    if top is None:
        raise ConfigError(p.items, source=src)
    p.keys("", top, ("version", "threshold", "approvers"), ("version", "threshold", "approvers"))
    version = p.integer("version", top["version"], minimum=1) if "version" in top else None
    threshold = p.integer("threshold", top["threshold"], minimum=1) if "threshold" in top else None
    approvers = _approvers(p, top["approvers"]) if "approvers" in top else []
    if threshold is not None and approvers and not p and threshold > len(approvers):
        p.add(
            "threshold",
            f"must be at most the number of approvers, {len(approvers)} (got {threshold}): "
            "no change could ever be approved",
        )
    if p or version is None or threshold is None:
        raise ConfigError(p.items, source=src)
    return Trust(
        version=version,
        threshold=threshold,
        approvers=tuple(approvers),
        digest=hashlib.sha256(data).hexdigest(),
        source=source,
    )


def read_bounded(path: str | os.PathLike[str]) -> bytes:
    """A file's bytes, refusing one larger than a document may be; ``ConfigError`` naming the file."""
    try:
        with Path(path).open("rb") as file:
            data = file.read(MAX_DOCUMENT_CHARS * 4 + 1)
    except OSError as exc:
        raise ConfigError([f"cannot read file: {exc}"], source=os.fspath(path)) from exc
    if len(data) > MAX_DOCUMENT_CHARS * 4:
        raise ConfigError([f"larger than {MAX_DOCUMENT_CHARS * 4:,} bytes"], source=os.fspath(path))
    return data


def load_trust(path: str | os.PathLike[str]) -> Trust:
    """Read and validate a trust file; ``ConfigError`` with every problem, naming the file."""
    return parse_trust(read_bounded(path), source=os.fspath(path))


def trust_in_force(trust: object, where: str) -> Trust | None:
    """``trust=`` of ``where`` (``Client.from_file``, ``publish``...): a path is read and validated now
    (``ConfigError``), and signing must be available (``SigningUnavailable``), so nothing runs believing it
    checks signatures it cannot. None stays None (no trust file: approvals are names)."""
    if trust is None:
        return None
    if isinstance(trust, str | os.PathLike):
        trust = load_trust(trust)
    if not isinstance(trust, Trust):
        msg = f"{where}(trust=...) must be a trust file's path, not {type(trust).__name__}"
        raise TypeError(msg)
    require_signing()
    return trust
