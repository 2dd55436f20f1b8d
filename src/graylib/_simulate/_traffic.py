"""The traffic model of a simulation: the platform whose payments ``PaymentStream`` draws.

A ``TrafficModel`` describes a payment platform in a few numbers: how many accounts pay, which payment types
they use and how large those payments are (log-normal, so most are small and a few are very large), where
the payers are, which clusters and nodes serve them, a few QA accounts that run smoke payments, and a ring
of abusive accounts sharing a handful of IPs that hammer any discount they find. ``_payments.PaymentStream``
draws payments from it.

A model file (TOML or JSON) has the shape of ``DEFAULT_TRAFFIC``; shares are relative weights.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .._config import format_of, parse_text
from .._errors import ConfigError

__all__ = [
    "DEFAULT_TRAFFIC",
    "Abuse",
    "ClusterShare",
    "PaymentKind",
    "Testers",
    "TrafficModel",
    "load_traffic",
    "parse_traffic",
]

DEFAULT_TRAFFIC: Mapping[str, Any] = {
    "accounts": 500_000,
    "merchants": 20_000,
    "payment_types": {
        "online_purchase": {"share": 0.38, "median_amount": 8_900, "sigma": 1.0},
        "offline_merchant": {"share": 0.22, "median_amount": 4_500, "sigma": 0.9},
        "p2p_transfer": {"share": 0.20, "median_amount": 30_000, "sigma": 1.3},
        "credit_card_repayment": {"share": 0.10, "median_amount": 250_000, "sigma": 0.9},
        "utility_bill": {"share": 0.06, "median_amount": 15_000, "sigma": 0.6},
        "mobile_topup": {"share": 0.04, "median_amount": 5_000, "sigma": 0.5},
    },
    "regions": {
        "CN-44": 0.18,
        "CN-37": 0.14,
        "CN-31": 0.14,
        "CN-11": 0.12,
        "CN-33": 0.12,
        "CN-32": 0.10,
        "CN-51": 0.10,
        "CN-42": 0.10,
    },
    "clusters": {
        "sh-small": {"share": 0.04, "nodes": 4},
        "bj-big": {"share": 0.55, "nodes": 40},
        "gz-mid": {"share": 0.25, "nodes": 16},
        "hz-mid": {"share": 0.16, "nodes": 12},
    },
    "testers": {"accounts": ["qa-smoke-01", "qa-smoke-02"], "payments_per_minute": 6},
    "abuse": {
        "accounts": 12,
        "ips": 3,
        "share": 0.01,
        "payment_type": "online_purchase",
        "median_amount": 300_000,
        "sigma": 0.2,
    },
}
"""The built-in platform: about 40% of payments are types no subsidy should touch (transfers, card
repayments), four clusters of very different size, and 1% of payments from a ring of 12 accounts behind 3
IPs paying large amounts."""


@attrs.frozen
class PaymentKind:
    """A payment type, its relative share and its amount distribution (log-normal, minor units)."""

    name: str
    share: float
    median_amount: int
    sigma: float


@attrs.frozen
class ClusterShare:
    """A cluster, its relative share of payments and how many nodes split them evenly."""

    name: str
    share: float
    nodes: int

    def node_names(self) -> tuple[str, ...]:
        """Nodes are named ``<cluster>-01``, ``<cluster>-02``... as rollout stages target them."""
        return tuple(f"{self.name}-{i:02d}" for i in range(1, self.nodes + 1))


@attrs.frozen
class Testers:
    """QA accounts that pay now and then: what an allow-listed smoke stage serves."""

    accounts: tuple[str, ...] = ()
    payments_per_minute: float = 0.0


@attrs.frozen
class Abuse:
    """A ring of accounts behind a few IPs, paying large amounts of one type as often as they can."""

    accounts: int
    ips: int
    share: float
    """Fraction of all payments (0..1) that come from the ring."""
    payment_type: str
    median_amount: int
    sigma: float


@attrs.frozen
class TrafficModel:
    """Who pays, with what, how much, where and through which node."""

    accounts: int
    merchants: int
    payment_types: tuple[PaymentKind, ...]
    regions: tuple[tuple[str, float], ...]
    clusters: tuple[ClusterShare, ...]
    testers: Testers = Testers()
    abuse: Abuse | None = None

    def mix(self) -> dict[str, float]:
        """Expected fraction of ordinary payments per payment type."""
        total = sum(k.share for k in self.payment_types)
        return {k.name: k.share / total for k in self.payment_types}


# -- reading a model ---------------------------------------------------------------------------------------


class _Reader:
    """Collects every problem of a traffic document with its path, like config validation does."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def table(self, path: str, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.problems.append(f"{path}: must be a table (got {type(value).__name__})")
            return {}
        return value

    def keys(self, path: str, table: Mapping[str, Any], allowed: Sequence[str]) -> None:
        for key in table:
            if key not in allowed:
                self.problems.append(f"{path}.{key}: unknown key; expected one of {', '.join(allowed)}")

    def number(self, path: str, value: Any, *, low: float, high: float = math.inf) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
        if not ok or not math.isfinite(float(value)):
            bound = f"between {low:g} and {high:g}" if math.isfinite(high) else f"at least {low:g}"
            self.problems.append(f"{path}: must be a number {bound} (got {value!r})")
            return low
        return float(value)

    def integer(self, path: str, value: Any, *, low: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            self.problems.append(f"{path}: must be an integer of at least {low} (got {value!r})")
            return low
        return value

    def positive_share(self, path: str, value: Any) -> float:
        share = self.number(path, value, low=0.0)
        if share == 0:
            self.problems.append(f"{path}: must be above 0 (a share of 0 is the same as leaving it out)")
        return share


def parse_traffic(data: Any, *, source: str = "") -> TrafficModel:
    """Validate a traffic document (a mapping shaped like ``DEFAULT_TRAFFIC``); missing parts default.

    Raises ``ConfigError`` carrying every problem, each with its path.
    """
    r = _Reader()
    top = r.table("traffic", data)
    allowed = ("accounts", "merchants", "payment_types", "regions", "clusters", "testers", "abuse")
    r.keys("traffic", top, allowed)
    accounts = r.integer("accounts", top.get("accounts", DEFAULT_TRAFFIC["accounts"]), low=1)
    merchants = r.integer("merchants", top.get("merchants", DEFAULT_TRAFFIC["merchants"]), low=1)
    kinds = []
    raw_kinds = r.table("payment_types", top.get("payment_types", DEFAULT_TRAFFIC["payment_types"]))
    for name, raw in raw_kinds.items():
        path = f"payment_types.{name}"
        spec = r.table(path, raw)
        r.keys(path, spec, ("share", "median_amount", "sigma"))
        kinds.append(
            PaymentKind(
                name=str(name),
                share=r.positive_share(f"{path}.share", spec.get("share")),
                median_amount=r.integer(f"{path}.median_amount", spec.get("median_amount"), low=1),
                sigma=r.number(f"{path}.sigma", spec.get("sigma", 1.0), low=0.0, high=5.0),
            )
        )
    regions = [
        (str(name), r.positive_share(f"regions.{name}", share))
        for name, share in r.table("regions", top.get("regions", DEFAULT_TRAFFIC["regions"])).items()
    ]
    clusters = []
    for name, raw in r.table("clusters", top.get("clusters", DEFAULT_TRAFFIC["clusters"])).items():
        path = f"clusters.{name}"
        spec = r.table(path, raw)
        r.keys(path, spec, ("share", "nodes"))
        clusters.append(
            ClusterShare(
                name=str(name),
                share=r.positive_share(f"{path}.share", spec.get("share")),
                nodes=r.integer(f"{path}.nodes", spec.get("nodes", 1), low=1),
            )
        )
    for path, items in (("payment_types", kinds), ("regions", regions), ("clusters", clusters)):
        if not items:
            r.problems.append(f"{path}: must list at least one entry")
    testers = _testers(r, top.get("testers", DEFAULT_TRAFFIC["testers"]))
    abuse = _abuse(r, top.get("abuse", DEFAULT_TRAFFIC["abuse"]))  # an empty table: no abuse
    if r.problems:
        raise ConfigError(r.problems, source=source or None)
    return TrafficModel(
        accounts=accounts,
        merchants=merchants,
        payment_types=tuple(kinds),
        regions=tuple(regions),
        clusters=tuple(clusters),
        testers=testers,
        abuse=abuse,
    )


def _testers(r: _Reader, raw: Any) -> Testers:
    spec = r.table("testers", raw)
    r.keys("testers", spec, ("accounts", "payments_per_minute"))
    accounts = spec.get("accounts", [])
    if not isinstance(accounts, list) or not all(isinstance(a, str) and a for a in accounts):
        r.problems.append(f"testers.accounts: must be a list of account ids (got {accounts!r})")
        accounts = []
    rate = r.number("testers.payments_per_minute", spec.get("payments_per_minute", 0), low=0.0)
    return Testers(tuple(accounts), rate)


def _abuse(r: _Reader, raw: Any) -> Abuse | None:
    spec = r.table("abuse", raw)
    if not spec:
        return None
    r.keys("abuse", spec, ("accounts", "ips", "share", "payment_type", "median_amount", "sigma"))
    kind = spec.get("payment_type")
    if not isinstance(kind, str) or not kind:
        r.problems.append(f"abuse.payment_type: must be a payment type (got {kind!r})")
        kind = ""
    return Abuse(
        accounts=r.integer("abuse.accounts", spec.get("accounts"), low=1),
        ips=r.integer("abuse.ips", spec.get("ips", 1), low=1),
        share=r.number("abuse.share", spec.get("share"), low=0.0, high=1.0),
        payment_type=kind,
        median_amount=r.integer("abuse.median_amount", spec.get("median_amount"), low=1),
        sigma=r.number("abuse.sigma", spec.get("sigma", 0.2), low=0.0, high=5.0),
    )


def load_traffic(path: str | os.PathLike[str] | None) -> TrafficModel:
    """The model in a TOML or JSON file, or ``DEFAULT_TRAFFIC`` for ``None``."""
    if path is None:
        return parse_traffic(DEFAULT_TRAFFIC)
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read file: {exc}"], source=name) from exc
    return parse_traffic(parse_text(text, format_of(name), source=name), source=name)
