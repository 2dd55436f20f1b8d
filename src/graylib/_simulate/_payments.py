"""Synthetic payments drawn from a ``TrafficModel``: the same model, seed and rate give the same payments.

So two configurations can be compared over exactly the same payments, and a test can pin the numbers a run
produces. Drawing one payment is a handful of ``random`` calls and one ``Context``: the generator must stay
cheap next to the claim it feeds.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Sequence

from .._values import Context
from ._traffic import Abuse, TrafficModel

__all__ = ["PaymentStream"]


def _cumulative(weights: Sequence[float]) -> list[float]:
    total = sum(weights)
    cum = [w / total for w in itertools.accumulate(weights)]
    cum[-1] = 1.0  # random() < 1.0, so bisect never runs past the last entry
    return cum


class PaymentStream:
    """Deterministic synthetic payments: the same model, seed and rate give the same payments.

    Each call of ``second()`` returns the payments of the next simulated second, in order, each with a unique
    ``payment_id``; ordinary accounts have a stable IP (four accounts per address, as behind a home router)
    and device. Everything is drawn from one ``random.Random(seed)``, second by second. Payment ids are
    ``id_prefix`` and a counter: give each run its own prefix when runs share a durable store, or the store
    rightly answers the second run's claims as replays of the first run's.
    """

    def __init__(
        self, model: TrafficModel, *, seed: int, payments_per_second: int, id_prefix: str = "pay-"
    ) -> None:
        if payments_per_second < 1:
            msg = f"payments_per_second must be at least 1 (got {payments_per_second!r})"
            raise ValueError(msg)
        self.model = model
        self.payments_per_second = payments_per_second
        self.id_prefix = id_prefix
        self._rng = random.Random(seed)
        self._issued = 0
        self._kinds = [(k.name, math.log(k.median_amount), k.sigma) for k in model.payment_types]
        self._kind_cum = _cumulative([k.share for k in model.payment_types])
        self._regions = [name for name, _ in model.regions]
        self._region_cum = _cumulative([share for _, share in model.regions])
        self._clusters = [(c.name, c.node_names()) for c in model.clusters]
        self._cluster_cum = _cumulative([c.share for c in model.clusters])
        self._seconds = 0
        self._testers_issued = 0

    def second(self) -> list[Context]:
        """The payments of the next simulated second: QA payments first, then ordinary and abusive ones."""
        rng = self._rng
        model = self.model
        out: list[Context] = []
        abuse = model.abuse
        abuse_share = abuse.share if abuse is not None else 0.0
        self._seconds += 1
        testers = 0
        if model.testers.accounts:  # an exact count per minute, spread over its seconds
            due = int(model.testers.payments_per_minute * self._seconds / 60 + 1e-9)
            testers, self._testers_issued = due - self._testers_issued, due
        out.extend(self._tester() for _ in range(testers))
        for _ in range(self.payments_per_second):
            if abuse is not None and rng.random() < abuse_share:
                out.append(self._abusive(abuse))
            else:
                out.append(self._ordinary())
        return out

    def _place(self) -> tuple[str, str, str]:
        rng = self._rng
        region = self._regions[bisect.bisect_right(self._region_cum, rng.random())]
        cluster, nodes = self._clusters[bisect.bisect_right(self._cluster_cum, rng.random())]
        return region, cluster, nodes[rng.randrange(len(nodes))]

    def _next_id(self) -> str:
        self._issued += 1
        return f"{self.id_prefix}{self._issued:09d}"

    def _ordinary(self) -> Context:
        rng = self._rng
        name, mu, sigma = self._kinds[bisect.bisect_right(self._kind_cum, rng.random())]
        n = rng.randrange(self.model.accounts)
        amount = max(1, int(rng.lognormvariate(mu, sigma)))
        region, cluster, node = self._place()
        merchant = f"m-{rng.randrange(self.model.merchants):05d}" if name != "p2p_transfer" else ""
        home = n >> 2
        return Context(
            account=f"u-{n:07d}",
            payment_type=name,
            amount=amount,
            payment_id=self._next_id(),
            region=region,
            ip=f"10.{(home >> 16) & 255}.{(home >> 8) & 255}.{home & 255}",
            device=f"d-{n:07d}",
            merchant=merchant,
            cluster=cluster,
            node=node,
        )

    def _abusive(self, abuse: Abuse) -> Context:
        rng = self._rng
        k = rng.randrange(abuse.accounts)
        amount = max(1, int(rng.lognormvariate(math.log(abuse.median_amount), abuse.sigma)))
        region, cluster, node = self._place()
        return Context(
            account=f"x-{k:03d}",
            payment_type=abuse.payment_type,
            amount=amount,
            payment_id=self._next_id(),
            region=region,
            ip=f"198.18.0.{k % abuse.ips + 1}",
            device=f"dx-{k % abuse.ips}",
            merchant=f"m-x{k % abuse.ips}",
            cluster=cluster,
            node=node,
        )

    def _tester(self) -> Context:
        rng = self._rng
        accounts = self.model.testers.accounts
        account = accounts[rng.randrange(len(accounts))]
        region, cluster, node = self._place()
        kinds = self._kinds
        name, mu, sigma = kinds[rng.randrange(len(kinds))]
        return Context(
            account=account,
            payment_type=name,
            amount=max(1, int(rng.lognormvariate(mu, sigma))),
            payment_id=self._next_id(),
            region=region,
            ip="192.0.2.10",
            device=f"dev-{account}",
            merchant="m-qa",
            cluster=cluster,
            node=node,
        )
