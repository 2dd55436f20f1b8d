"""Where a follower's versions come from: ``Source`` (what is the current version, and its text).

``look()`` answers with a ``Sighting``: a key naming the current version, and its rules text or the reason
it cannot be read. The key is compared with the served snapshot's digest, so a source whose version is its
text (a file) keys versions by ``digest_text``; a source with revisions of its own (a store's published
revision) would fetch the text only when the revision differs from the served one.

``FileSource`` is a rules file, hashed by content so that an edit that keeps the size and the modification
time is still seen. A signed ``FileSource`` (a client with a trust file) reads the file's exact bytes and its
signature file (``FILE.sig``) in the same look, so the bytes the signatures are checked over are the bytes
validated. ``_store_source.StoreSource`` is a store's published revision (its bytes and the signatures
stored with it). A source whose sightings are always whole (``whole``: a revision is immutable, never
half-written) is taken at its first sighting; a file is taken once two looks agree.
"""

from __future__ import annotations

import hashlib
import os
from typing import Protocol

import attrs

from .._compile import digest_text
from .._config import format_of
from .._errors import ConfigError
from .._load import RulesText, read_text, text_of_bytes
from .._trust import read_bounded, signatures_beside

__all__ = ["FileSource", "Sighting", "Source"]


@attrs.frozen
class Sighting:
    """One look at a source: the version's key, and its rules or why they cannot be read.

    The key of an unreadable source is its error's text, so that an unchanged failure is recognised too.
    """

    key: str
    rules: RulesText | None = None
    error: Exception | None = None
    """Why the version cannot be read: a ``ConfigError``, or a ``StoreError`` when a store is unreachable."""
    revision: int | None = None
    """The published revision's number, for a source that numbers its versions (a store); else None."""
    data: bytes | None = None
    """The exact bytes the rules were decoded from, when the source reads them for signatures."""
    signatures: bytes | None = None
    """The signature file's bytes (None: no signature file), when the source reads them."""

    @property
    def attempt(self) -> str:
        """What a check of this sighting is remembered by (pending, refused): the version's key and its
        signatures, so a version refused for want of signatures is checked again once they are added."""
        if self.signatures is None:
            return self.key
        return f"{self.key}+signatures:{hashlib.sha256(self.signatures).hexdigest()}"


class Source(Protocol):
    """Where versions of the rules come from.

    A source may also have a ``whole`` attribute: True when every sighting is complete (never half-written),
    so that the follower takes a new version at its first sighting. Without it, a version is taken once two
    looks agree.
    """

    @property
    def name(self) -> str:
        """Where the rules come from, for messages and ``status().source``."""
        ...

    def look(self) -> Sighting:
        """The current version: its key, and its text or why it cannot be read. Never raises."""
        ...

    def read_copy(self, path: str) -> RulesText:
        """A kept copy of a version of this source (the last good copy) in this source's format."""
        ...


class FileSource:
    """A rules file (TOML, JSON or YAML by its extension); ``signed``: with its exact bytes and signatures."""

    __slots__ = ("path", "signed")

    def __init__(self, path: str | os.PathLike[str], *, signed: bool = False) -> None:
        self.path = os.fspath(path)
        self.signed = signed

    @property
    def name(self) -> str:
        return self.path

    @property
    def whole(self) -> bool:
        return False  # a file written in place can be read half-written

    def look(self) -> Sighting:
        if self.signed:
            return self._look_signed()
        try:
            rules = read_text(self.path)
        except ConfigError as exc:
            return Sighting(f"unreadable:{exc}", error=exc)
        return Sighting(digest_text(rules.text), rules)

    def _look_signed(self) -> Sighting:
        try:
            data = read_bounded(self.path)
            rules = text_of_bytes(data, self.path)
            signatures = signatures_beside(self.path)
        except ConfigError as exc:
            return Sighting(f"unreadable:{exc}", error=exc)
        except OSError as exc:
            error = ConfigError([f"cannot read its signature file: {exc}"], source=self.path)
            return Sighting(f"unreadable:{error}", error=error)
        return Sighting(digest_text(rules.text), rules, data=data, signatures=signatures)

    def read_copy(self, path: str) -> RulesText:
        """The copy's text, read in this file's format (the copy's own name may have no extension)."""
        return read_text(path, fmt=format_of(self.path))
