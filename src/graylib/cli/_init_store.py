"""``graylib init-store``: the explicit act that marks a shared store as graylib's.

A Redis that restarted empty or was flushed looks exactly like a new one, so no process may decide by
itself that an empty store is fine: it would grant every budget again and forget every kill switch. Claims
on a store without its epoch marker fail closed until an operator runs this command, for a new store or
after checking what was lost (docs/operations.md, "When a store lost its data"). On a store that is already
initialised it changes nothing and prints the epoch. Never run it from a service's start-up script.

It is also the one command that creates a SQLite store whose file does not exist yet (in an existing
directory): initialising is the explicit act that may make a store; every other command refuses a path with
no store behind it.

Exit codes: 0 done; 2 the store URL is missing or wrong, or the store could not be reached.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._redact import redact_url
from ..stores import Store
from ._output import emit_json
from ._store import add_store_argument, store_url, with_store

__all__ = ["register"]

AFTER = (
    "Processes that saw the store's previous data keep refusing claims until they are restarted. Kill"
    " switches set before the data was lost are gone: set them again with `graylib kill`."
)


def register(sub: Any) -> None:
    init: argparse.ArgumentParser = sub.add_parser(
        "init-store",
        help="mark a new shared store (or one that lost its data) as ready: claims fail closed until then",
    )
    add_store_argument(init)
    init.add_argument("--json", action="store_true", help="print the store and its epoch as JSON")
    init.set_defaults(handler=run_init_store)


def run_init_store(args: argparse.Namespace) -> int:
    url = store_url(args.store)

    def act(store: Store) -> int:
        epoch = store.initialise()
        if args.json:
            emit_json({"store": redact_url(url), "epoch": epoch})
        else:
            print(f"{redact_url(url)}: initialised, epoch {epoch}")
            print(AFTER)
        return 0

    return with_store(url, act, create=True)
