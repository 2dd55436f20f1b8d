"""``graylib fleet``: every following client, what it serves, and which ones are behind or silent.

Each ``Client.from_store`` process keeps an expiring record in the store (cluster, node, host, pid, the
revision and version it serves, healthy, its last error, when it last wrote). A node is *behind* when it
serves another revision than the current one, *silent* when it missed three heartbeats (it may have died,
or cannot reach the store), *unhealthy* when it says so (a refused revision, a store it cannot read, stale
kill switches). A record that is not renewed disappears after its time to live (5 minutes by default).

Exit codes: 0 every listed node serves the current revision, healthy and heard from; 1 some node is behind,
silent or unhealthy; 2 a store that is missing or unreachable.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from .._publish import fleet
from ..stores import Instance, Store
from ._output import emit_json
from ._store import add_store_argument, store_url, with_store

__all__ = ["register", "render_fleet"]


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "fleet", help="every following client and the revision it serves; exit 1 if any is behind or silent"
    )
    add_store_argument(parser, what="the shared store the fleet follows")
    parser.add_argument(
        "--json", action="store_true", help="print the current revision and every node as JSON"
    )
    parser.set_defaults(handler=run)


def _flags(node: Instance) -> list[str]:
    return [
        flag
        for flag, on in (("BEHIND", node.behind), ("SILENT", node.silent), ("UNHEALTHY", not node.healthy))
        if on
    ]


def render_fleet(head: int, nodes: list[Instance], now: float) -> str:
    lines = [f"current revision: {head or '(nothing published)'}; {len(nodes)} following clients"]
    for node in nodes:
        served = f"revision {node.revision}" if node.revision is not None else "a last good copy"
        flags = " ".join(_flags(node)) or "ok"
        seen = max(now - node.last_seen, 0.0)
        lines.append(
            f"  {node.cluster}/{node.node} {node.host}:{node.pid}  {served} (version {node.version})"
            f"  seen {seen:.0f}s ago  {flags}"
        )
        if node.last_error:
            lines.append(f"    error: {node.last_error}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    def act(store: Store) -> int:
        now = time.time()
        nodes = fleet(store, now=now)
        head = store.head_revision()
        if args.json:
            emit_json({"current_revision": head, "nodes": [n.to_dict() for n in nodes]})
        else:
            print(render_fleet(head, nodes, now))
        return 1 if any(_flags(node) for node in nodes) else 0

    return with_store(store_url(args.store), act)
