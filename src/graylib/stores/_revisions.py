"""The values of published revisions and fleet records, as every store keeps them.

A ``Revision`` is one published rules text: immutable, numbered 1, 2, 3... per store, the highest number
being the current one. An ``Instance`` is what one following client last said about itself (its record
expires). Stores keep both as opaque values: they check nothing about rules, only the compare-and-set of
the current number and that one config version never names two texts.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any, cast

import attrs

from graylib._errors import ConflictError, StoreError

if TYPE_CHECKING:
    from attrs import AttrsInstance

__all__ = [
    "Instance",
    "Revision",
    "SignedText",
    "check_instance",
    "check_revision",
    "decode_instance",
    "decode_revision",
    "encode_instance",
    "encode_record",
    "meanwhile",
    "signatures_text",
    "version_taken",
]

_FORMATS = ("toml", "json", "yaml")
_KEY_SAFE = re.compile(r"[^A-Za-z0-9_.:@/-]")
MAX_HISTORY = 1_000
"""Most revisions one ``revisions()`` call returns."""


class SignedText:
    """What an immutable numbered record a store keeps (``Revision``, ``TrustRecord``) does with its text
    and the signature file published with it: their exact bytes, and the record as JSON-ready values."""

    __slots__ = ()
    text: str
    signatures: str

    @property
    def data(self) -> bytes:
        """The text's exact bytes, as published (UTF-8): what its signatures sign."""
        return self.text.encode("utf-8", "surrogatepass")

    @property
    def signature_data(self) -> bytes | None:
        """The signature file's bytes as published (None: none were)."""
        return self.signatures.encode("utf-8", "surrogateescape") if self.signatures else None

    def to_dict(self, *, text: bool = True) -> dict[str, Any]:
        """JSON-ready values, tuples as lists (without the text and signatures when ``text`` is False)."""
        out = {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in attrs.asdict(cast("AttrsInstance", self)).items()  # an attrs subclass
        }
        if not text:
            del out["text"], out["signatures"]
        return out


def encode_record(record: SignedText) -> str:
    """A revision or trust record as the stores keep it (compact JSON)."""
    return json.dumps(record.to_dict(), separators=(",", ":"))


@attrs.frozen
class Revision(SignedText):
    """One published rules text (see DESIGN §11). Immutable once published.

    ``number`` starts at 1 and increases by one per publish in a store; ``digest`` is the sha256 of the
    exact ``text``; ``approvers`` are the approvals that counted when it was published; ``rollback_of`` is
    the number whose text it restores (None for a plain publish). ``format`` is the text's format (``toml``,
    ``json`` or ``yaml``), so that every follower reads it as it was written. ``signatures`` is the
    signature file published with the text (``FILE.sig``: one JSON line per signature over ``data``, the
    text's exact bytes; empty: none), kept so that a client with a trust file checks them itself.
    """

    number: int
    version: str
    digest: str
    text: str
    format: str = "toml"
    author: str = ""
    approvers: tuple[str, ...] = ()
    published_at: float = 0.0
    published_by: str = ""
    note: str = ""
    rollback_of: int | None = None
    signatures: str = ""


def signatures_text(data: bytes | None) -> str:
    """A signature file's bytes as ``Revision.signatures`` keeps them (losslessly, whatever the bytes)."""
    return data.decode("utf-8", "surrogateescape") if data else ""


@attrs.frozen
class Instance:
    """What one following client last reported: who it is and what it serves.

    ``revision`` is the number served (None when it serves a last good copy of unknown number), ``healthy``
    its ``status().healthy``, ``last_seen`` when the record was written (the client's clock), ``heartbeat``
    how often (seconds) it writes one. ``behind`` and ``silent`` are filled in by ``graylib.fleet``:
    behind = it serves another revision than the current one; silent = no record for three heartbeats.
    """

    cluster: str
    node: str
    host: str
    pid: int
    revision: int | None
    version: str
    digest: str
    healthy: bool
    last_error: str
    last_seen: float
    heartbeat: float
    started_at: float = 0.0
    behind: bool = False
    silent: bool = False

    @property
    def key(self) -> str:
        """The record's identity in the store: one record per process and identity."""
        raw = f"{self.host}:{self.pid}:{self.cluster}/{self.node}"
        tail = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        return f"{_KEY_SAFE.sub('_', raw)[:150]}~{tail}"  # readable, and never two identities in one

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def check_revision(revision: Revision, expected: int, what: str) -> None:
    """``StoreError`` for a revision no store should keep (a programming error, never a race)."""
    problems = []
    if not isinstance(revision, Revision):
        problems.append(f"expected a Revision, got {type(revision).__name__}")
    else:
        if not isinstance(revision.text, str) or not revision.text.strip():
            problems.append("its text is empty")
        if not isinstance(revision.version, str) or not revision.version:
            problems.append("its version is empty")
        if not isinstance(revision.signatures, str):
            problems.append(f"signatures must be text (got {type(revision.signatures).__name__})")
        if revision.format not in _FORMATS:
            problems.append(f"format must be one of {', '.join(_FORMATS)} (got {revision.format!r})")
    if not isinstance(expected, int) or isinstance(expected, bool) or expected < 0:
        problems.append(f"expected must be a revision number >= 0 (got {expected!r})")
    if problems:
        raise StoreError(f"{what}: cannot publish: {'; '.join(problems)}")


def check_instance(instance: Instance, ttl: float, what: str) -> None:
    if not isinstance(instance, Instance):
        msg = f"{what}: expected an Instance, got {type(instance).__name__}"
        raise StoreError(msg)
    if not ttl > 0:
        msg = f"{what}: ttl must be a positive number of seconds (got {ttl!r})"
        raise StoreError(msg)


def meanwhile(expected: int, current: int) -> ConflictError:
    """The refusal of a publish whose check was made against another current revision."""
    if current > expected:
        return ConflictError(
            f"revision {current} was published meanwhile (this publish was checked against "
            f"{expected or 'an empty store'}); plan again against revision {current}"
        )
    return ConflictError(
        f"the store's current revision is {current}, not {expected} as this publish expected; plan again"
    )


def version_taken(version: str, number: int | None) -> ConflictError:
    where = f"revision {number}" if number is not None else "an earlier revision"
    return ConflictError(
        f"version {version!r} already names another text ({where}); give this config a new version"
    )


def decode_revision(raw: str | bytes) -> Revision:
    data = json.loads(raw)
    data["approvers"] = tuple(data.get("approvers") or ())
    return Revision(**data)


def encode_instance(instance: Instance) -> str:
    data = instance.to_dict()
    del data["behind"], data["silent"]
    return json.dumps(data, separators=(",", ":"))


def decode_instance(raw: str | bytes) -> Instance:
    return Instance(**json.loads(raw))
