"""The ``--store URL`` option shared by the commands that talk to a shared store.

A store is named by ``--store URL`` (see ``STORE_URL_FORMS``) or by the ``GRAYLIB_STORE`` environment
variable. Opening, running and closing go through ``with_store`` so that every command reports a missing,
wrong or unreachable store the same way: a message and exit code 2. Commands that only read a store or flip
its kill switches open it with ``create=False``: a mistyped SQLite path is "no such store", never a new
empty database that answers "no kill switches set".

A store URL may carry a Redis password. Nothing a command prints shows it: URLs are shown through
``shown_url`` and every error message goes through ``scrub``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import urllib.parse
from collections.abc import Callable

from .._errors import StoreError
from .._redact import redact_url
from ..stores import MemoryStore, Store, store_from_url
from ._output import error

__all__ = [
    "STORE_ENV",
    "STORE_URL_FORMS",
    "add_store_argument",
    "scrub",
    "shown_url",
    "store_url",
    "with_store",
]

STORE_ENV = "GRAYLIB_STORE"

STORE_URL_FORMS = (
    "sqlite:///ABSOLUTE/PATH.db, sqlite:RELATIVE/PATH.db, redis://[:PASSWORD@]HOST:PORT/DB,"
    " rediss://... (TLS) or redis+cluster://HOST:PORT[,HOST:PORT...]"
)
"""How every help text spells the store URLs (``store_from_url`` accepts them; the CLI refuses memory://
except in ``simulate``)."""

_SECRET_QUERY = re.compile(r"(?i)[?&;](?:password|pass|pwd|secret|token|auth)=([^&;#]*)")


def add_store_argument(
    parser: argparse.ArgumentParser, *, what: str = "the shared store (must exist)"
) -> None:
    parser.add_argument(
        "--store",
        metavar="URL",
        help=f"{what}: {STORE_URL_FORMS} (default: ${STORE_ENV})",
    )


def store_url(arg: str | None) -> str:
    """The URL given on the command line, else the environment's, else empty."""
    return arg or os.environ.get(STORE_ENV, "")


def shown_url(url: str) -> str:
    """``url`` as a command may print it: every password masked."""
    return redact_url(url)


def _secrets(url: str) -> set[str]:
    """The passwords a URL carries, as written and percent-decoded (redis-py decodes them)."""
    found: set[str] = set()
    _scheme, sep, rest = url.partition("://")
    if sep:
        netlocs = re.split(r"[/?#]", rest, maxsplit=1)[0]
        for netloc in netlocs.split(","):
            userinfo, at, _host = netloc.rpartition("@")
            if at and userinfo:
                _user, colon, password = userinfo.partition(":")
                found.add(password if colon else userinfo)
    found.update(_SECRET_QUERY.findall(url))
    found |= {urllib.parse.unquote(secret) for secret in found}
    return {secret for secret in found if secret}


def scrub(text: str, url: str) -> str:
    """``text`` (an error message) with ``url`` shown redacted and any password of it masked."""
    text = text.replace(url, redact_url(url))
    for secret in sorted(_secrets(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def with_store(url: str, act: Callable[[Store], int], *, create: bool = False) -> int:
    """Open the store ``url`` names, run ``act`` on it, close it; errors become messages and exit code 2.

    ``create=False`` (the default) refuses a SQLite file that does not exist: reading or flipping switches
    in a store nobody uses would report success for nothing. ``memory://`` is refused: it would live in
    this command's own process, where no client sees it.
    """
    if not url:
        error(f"no store: pass --store URL or set {STORE_ENV}")
        return 2
    try:
        store = store_from_url(url, create=create)
    except (ValueError, StoreError, ImportError) as exc:
        error(scrub(str(exc), url))
        return 2
    try:
        if isinstance(store, MemoryStore):
            error("memory:// lives in this command's own process: no client would see its kill switches")
            return 2
        return act(store)
    except StoreError as exc:
        error(f"store unavailable: {scrub(str(exc), url)}")
        return 2
    finally:
        with contextlib.suppress(StoreError):  # the command's work is done; a failing close changes nothing
            store.close()
