"""Config -> Snapshot: every rule compiled for one client identity, plus the indexes the hot path uses."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from ._config import Config
from ._evaluate import CompiledRule

__all__ = ["Snapshot", "compile_config"]


@attrs.frozen
class Snapshot:
    """An immutable, compiled rule set. A reload builds a new one and swaps a single reference."""

    config: Config
    rules: Mapping[str, CompiledRule]
    by_payment_type: Mapping[str, tuple[CompiledRule, ...]]
    """Rules that list each payment type and are not killed in the config, in file order."""
    cluster: str
    node: str
    loaded_at: float
    digest: str
    """Hash of the source text (or of the config's repr when built from a mapping)."""

    @property
    def version(self) -> str:
        return self.config.version


def compile_config(config: Config, *, cluster: str = "", node: str = "", digest: str = "") -> Snapshot:
    """Compile every rule of ``config`` for the client at ``cluster``/``node``."""
    rules = {r.id: CompiledRule(r, version=config.version, cluster=cluster, node=node) for r in config.rules}
    index: dict[str, list[CompiledRule]] = {}
    for compiled in rules.values():
        if compiled.killed:
            continue
        for kind in sorted(compiled.payment_types):
            index.setdefault(kind, []).append(compiled)
    if not digest:
        digest = hashlib.sha256(repr(config).encode()).hexdigest()
    return Snapshot(
        config=config,
        rules=MappingProxyType(rules),
        by_payment_type=MappingProxyType({k: tuple(v) for k, v in index.items()}),
        cluster=cluster,
        node=node,
        loaded_at=time.time(),
        digest=digest,
    )
