"""Config -> Snapshot: every rule compiled once for one client identity, its limit plan beside it.

``compile_rule`` is the one place a ``CompiledRule`` is made (the client, smoke cases and the blast radius
all evaluate through one), and each rule's ``LimitPlan`` (what a claim reserves) is built with it, so that
nothing is prepared lazily on the payment path.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from ._config import Config, Rule
from ._evaluate import CompiledRule
from ._limits import LimitPlan
from .stores import LedgerOrigin

__all__ = ["Snapshot", "compile_config", "compile_rule", "digest_config", "digest_text"]


def digest_text(text: str) -> str:
    """The digest of rules text: what a reload compares to tell a new version from the served one."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def digest_config(config: Config) -> str:
    """The digest of a config that has no text (built from a mapping or in Python): of its repr."""
    return digest_text(repr(config))


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


def compile_rule(
    rule: Rule, *, version: str, cluster: str = "", node: str = "", digest: str = ""
) -> CompiledRule:
    """One rule, ready to evaluate at ``cluster``/``node`` and to be claimed under its limits.

    ``digest`` (of the config the rule comes from) goes with ``version``, ``cluster`` and ``node`` into the
    ledger entry of every grant the rule makes.
    """
    origin = LedgerOrigin(version, digest, cluster, node)
    plan = LimitPlan(rule, origin)
    return CompiledRule(rule, version=version, cluster=cluster, node=node, plan=plan)


def compile_config(config: Config, *, cluster: str = "", node: str = "", digest: str = "") -> Snapshot:
    """Compile every rule of ``config`` for the client at ``cluster``/``node``."""
    version = config.version
    digest = digest or digest_config(config)
    rules = {
        r.id: compile_rule(r, version=version, cluster=cluster, node=node, digest=digest)
        for r in config.rules
    }
    index: dict[str, list[CompiledRule]] = {}
    for compiled in rules.values():
        if compiled.killed:
            continue
        for kind in sorted(compiled.payment_types):
            index.setdefault(kind, []).append(compiled)
    return Snapshot(
        config=config,
        rules=MappingProxyType(rules),
        by_payment_type=MappingProxyType({k: tuple(v) for k, v in index.items()}),
        cluster=cluster,
        node=node,
        loaded_at=time.time(),
        digest=digest,
    )
