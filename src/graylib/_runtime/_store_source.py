"""A store's published revision as a follower's source: ``StoreSource``.

Each look is one small read, the current revision's number (``Store.head_revision``). The revision itself
(its text) is fetched only when that number changes, and kept: a follower polling an unchanged store reads
one number per interval. The sighting's key is the revision's digest, which is what the served snapshot's
digest is compared with; its ``revision`` is the number, which the follower uses to accept only higher
numbers. A revision's text is checked against its digest before it is offered, with its exact bytes and
the signatures published with it (``data``, ``signatures``): a client with a trust file counts only those
that are valid over those bytes, whoever wrote the revision into the store.

Revisions are immutable, so a sighting is whole (``whole``): the follower takes a new revision at its first
sighting, not after a second look as with a file written in place.
"""

from __future__ import annotations

import time

from .._compile import digest_text
from .._config import format_of
from .._errors import ConfigError, StoreError
from .._load import RulesText, read_text
from .._redact import describe_error, describe_store, redact_url
from ..stores import Revision, Store
from ._source import Sighting

__all__ = ["StoreSource", "store_name"]

_FORMAT_EXTENSIONS = (".toml", ".json", ".yaml", ".yml")


def store_name(store: Store) -> str:
    """How messages and ``status().source`` name a store (a Redis URL with its password masked)."""
    path = getattr(store, "path", None)
    if isinstance(path, str):
        return f"sqlite:{path}"
    if type(store).__repr__ is object.__repr__:
        return describe_store(store)
    shown = redact_url(repr(store))
    return shown if len(shown) <= 200 else f"{type(store).__name__}(...)"


class StoreSource:
    """The current published revision of ``store``; fetched on change only."""

    __slots__ = ("_revision", "_sighting", "last_read_at", "store")

    def __init__(self, store: Store) -> None:
        self.store = store
        self._revision: Revision | None = None
        self._sighting: Sighting | None = None
        self.last_read_at: float | None = None
        """When the store last answered (time.time()); None before the first answer."""

    @property
    def name(self) -> str:
        return store_name(self.store)

    @property
    def whole(self) -> bool:
        return True

    @property
    def revision(self) -> Revision | None:
        """The last revision fetched (text included)."""
        return self._revision

    def look(self) -> Sighting:
        """The current revision: one read of its number, and its text when the number is new. Never raises."""
        try:
            head = self.store.head_revision()
        except Exception as exc:  # unreachable, lost data: the follower keeps what it serves
            error = StoreError(f"cannot read the current revision from {self.name}: {describe_error(exc)}")
            return Sighting(f"unreadable:{error}", error=error)
        self.last_read_at = time.time()
        if head == 0:
            advice = "graylib publish FILE --store URL"
            empty = ConfigError([f"nothing is published in {self.name} yet ({advice})"])
            return Sighting(f"empty:{self.name}", error=empty)
        cached = self._sighting
        if cached is not None and cached.revision == head:
            return cached
        try:
            revision = self.store.revision(head)
        except Exception as exc:
            error = StoreError(f"cannot read revision {head} from {self.name}: {describe_error(exc)}")
            return Sighting(f"unreadable:{error}", error=error)
        if revision is None or digest_text(revision.text) != revision.digest:
            what = "is missing" if revision is None else "has a text that does not match its digest"
            problem = ConfigError([f"revision {head} in {self.name} {what}; it is not served"])
            return Sighting(f"broken:{head}", error=problem, revision=head)
        rules = RulesText(revision.text, revision.format, f"{self.name} revision {head}")
        self._revision = revision
        self._sighting = Sighting(
            revision.digest,
            rules,
            revision=head,
            data=revision.data,
            signatures=revision.signature_data,
        )
        return self._sighting

    def read_copy(self, path: str) -> RulesText:
        """The last good copy: read in its extension's format, or (no known extension) as JSON when it starts
        with ``{``, else TOML."""
        if path.lower().endswith(_FORMAT_EXTENSIONS):
            return read_text(path, fmt=format_of(path))
        copy = read_text(path, fmt="toml")
        if copy.text.lstrip().startswith("{"):
            return RulesText(copy.text, "json", copy.name)
        return copy
