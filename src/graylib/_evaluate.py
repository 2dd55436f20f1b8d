"""A compiled rule and its evaluation: Context -> Decision, in the order of the evaluation contract.

Everything that can be decided when the config loads is decided then (sets, the stage threshold of this
client's node, the discount as integer arithmetic, every refusal as a ready-made ``Decision``), so that
judging a payment is a handful of attribute loads, set lookups and one hash. This module never touches a
store: kill switches and limits are the client's business.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import mmh3

from ._bucketing import BUCKETS, threshold
from ._config import Rule
from ._iprange import IPRanges
from ._values import Context, Decision, Reason

__all__ = ["NOT_TARGETED", "CompiledRule"]

NOT_TARGETED = -1
"""Stage threshold of a node the current stage does not target."""

_NO_LIMIT = 1 << 62
_THRESHOLD_CACHE_SIZE = 4096

_hash: Callable[[str, int, bool], int] = mmh3.hash


class CompiledRule:
    """One rule, prepared for one client identity (cluster, node) and one config version."""

    __slots__ = (
        "_thresholds",
        "allow",
        "cap",
        "cluster",
        "d_killed",
        "d_no_account",
        "d_not_active",
        "d_out_of_stage",
        "d_payment_type",
        "d_region",
        "d_too_large",
        "d_too_small",
        "d_zero",
        "den",
        "deny_accounts",
        "deny_any",
        "deny_devices",
        "deny_ips",
        "deny_merchants",
        "deny_regions",
        "ends",
        "fixed",
        "killed",
        "max_amount",
        "min_amount",
        "node",
        "num",
        "payment_types",
        "prefix",
        "regions",
        "rule",
        "rule_id",
        "scheduled",
        "shadow",
        "stage",
        "starts",
        "threshold",
        "version",
    )

    def __init__(self, rule: Rule, *, version: str, cluster: str, node: str) -> None:
        self.rule = rule
        self.rule_id = rule.id
        self.version = version
        self.cluster = cluster
        self.node = node
        self.killed = rule.state == "killed"
        self.shadow = rule.state == "shadow"
        self.stage = rule.rollout.stage
        self.prefix = f"{rule.bucket_salt}:"
        self.payment_types = rule.payment_types
        self.regions = rule.regions
        self.min_amount = max(rule.min_amount or 1, 1)
        self.max_amount = rule.max_amount if rule.max_amount is not None else _NO_LIMIT
        self.scheduled = rule.starts_at is not None or rule.ends_at is not None
        self.starts = rule.starts_at.timestamp() if rule.starts_at else float("-inf")
        self.ends = rule.ends_at.timestamp() if rule.ends_at else float("inf")
        self.allow = rule.allow.accounts
        deny = rule.deny
        self.deny_accounts = deny.accounts
        self.deny_devices = deny.devices
        self.deny_merchants = deny.merchants
        self.deny_regions = deny.regions
        self.deny_ips = IPRanges(deny.ips)
        self.deny_any = bool(deny.accounts or deny.ips or deny.devices or deny.merchants or deny.regions)
        discount = rule.discount
        if discount.amount is not None:
            self.fixed, self.num, self.den, self.cap = discount.amount, 0, 1, discount.amount
        else:
            assert discount.percent is not None and discount.max_off is not None
            pct = discount.percent
            self.fixed, self.num, self.den = -1, pct.numerator, 100 * pct.denominator
            self.cap = discount.max_off
        self.threshold = self._compute_threshold(cluster, node)
        self._thresholds: dict[tuple[str, str], int] = {}

        def refusal(reason: Reason, detail: str = "") -> Decision:
            return Decision(
                applies=False,
                reason=reason,
                rule_id=rule.id,
                rule_version=version,
                stage=self.stage,
                detail=detail,
            )

        self.d_killed = refusal(Reason.KILLED, "rule state is killed")
        self.d_not_active = refusal(Reason.NOT_ACTIVE, "outside starts_at/ends_at")
        self.d_payment_type = refusal(Reason.PAYMENT_TYPE)
        self.d_region = refusal(Reason.REGION)
        self.d_too_small = refusal(Reason.NOT_ELIGIBLE, "amount below min_amount, or not a positive integer")
        self.d_too_large = refusal(Reason.NOT_ELIGIBLE, "amount above max_amount")
        self.d_no_account = refusal(Reason.NOT_ELIGIBLE, "no account to bucket by")
        self.d_zero = refusal(Reason.NOT_ELIGIBLE, "discount rounds down to 0")
        self.d_out_of_stage = refusal(Reason.OUT_OF_STAGE)

    # -- stage thresholds --------------------------------------------------------------------------------

    def _compute_threshold(self, cluster: str, node: str) -> int:
        pct = self.rule.rollout.current.percent_at(cluster, node)
        return NOT_TARGETED if pct is None else threshold(float(pct))

    def threshold_for(self, cluster: str, node: str) -> int:
        """The stage threshold for a context that names its own cluster and/or node."""
        if not cluster:
            cluster = self.cluster
            node = node or self.node
        elif cluster == self.cluster and not node:
            node = self.node
        key = (cluster, node)
        found = self._thresholds.get(key)
        if found is None:
            found = self._compute_threshold(cluster, node)
            if len(self._thresholds) >= _THRESHOLD_CACHE_SIZE:
                self._thresholds.clear()
            self._thresholds[key] = found
        return found

    # -- evaluation --------------------------------------------------------------------------------------

    def evaluate(self, ctx: Context, now: float | None = None) -> Decision:
        """Steps 2-8 and 10 of the evaluation order (the caller handles unknown rules and kill switches).

        May raise on a context of the wrong types; ``Client`` turns that into ``Reason.ERROR``.
        """
        if self.killed:
            return self.d_killed
        if self.scheduled:
            t = time.time() if now is None else now
            if t < self.starts or t >= self.ends:
                return self.d_not_active
        if self.deny_any:
            denied = self._denied(ctx)
            if denied is not None:
                return denied
        if ctx.payment_type not in self.payment_types:
            return self.d_payment_type
        regions = self.regions
        if regions is not None and ctx.region not in regions:
            return self.d_region
        amount = ctx.amount
        if type(amount) is not int or amount < self.min_amount:
            return self.d_too_small
        if amount > self.max_amount:
            return self.d_too_large
        account = ctx.account
        if type(account) is not str or not account:
            return self.d_no_account
        bucket = _hash(self.prefix + account, 0, False) % BUCKETS
        if account in self.allow:
            reason = Reason.APPLIES_ALLOWLISTED
        else:
            # A context naming its own cluster or node is judged at that node (cached per node).
            bound = self.threshold_for(ctx.cluster, ctx.node) if ctx.cluster or ctx.node else self.threshold
            if bound < 0:
                return self.d_out_of_stage
            if bucket >= bound:
                return Decision(
                    applies=False,
                    reason=Reason.OUT_OF_ROLLOUT,
                    rule_id=self.rule_id,
                    rule_version=self.version,
                    stage=self.stage,
                    bucket=bucket,
                )
            reason = Reason.APPLIES_ROLLOUT
        off = self.fixed if self.fixed >= 0 else amount * self.num // self.den
        off = min(off, self.cap)
        off = min(off, amount)
        if off <= 0:
            return self.d_zero
        if self.shadow:
            return Decision(
                applies=False,
                reason=Reason.SHADOW,
                discount=off,
                rule_id=self.rule_id,
                rule_version=self.version,
                stage=self.stage,
                bucket=bucket,
                detail=f"would apply ({reason.value})",
            )
        return Decision(
            applies=True,
            reason=reason,
            discount=off,
            rule_id=self.rule_id,
            rule_version=self.version,
            stage=self.stage,
            bucket=bucket,
        )

    def _denied(self, ctx: Context) -> Decision | None:
        if self.deny_accounts and ctx.account in self.deny_accounts:
            return self._deny_decision(f"account {ctx.account!r} is on the deny list")
        if self.deny_devices and ctx.device in self.deny_devices:
            return self._deny_decision(f"device {ctx.device!r} is on the deny list")
        if self.deny_merchants and ctx.merchant in self.deny_merchants:
            return self._deny_decision(f"merchant {ctx.merchant!r} is on the deny list")
        if self.deny_regions and ctx.region in self.deny_regions:
            return self._deny_decision(f"region {ctx.region!r} is on the deny list")
        if self.deny_ips and ctx.ip:
            return self._ip_denied(ctx.ip)
        return None

    def _ip_denied(self, ip: str) -> Decision | None:
        found = self.deny_ips.match(ip)
        if found is None:
            return Decision(
                applies=False,
                reason=Reason.ERROR,
                rule_id=self.rule_id,
                rule_version=self.version,
                stage=self.stage,
                detail=f"ip {str(ip)[:64]!r} is malformed; the rule has an IP deny list",
            )
        if found:
            return self._deny_decision(f"ip {ip!r} is in deny list entry {found}")
        return None

    def _deny_decision(self, detail: str) -> Decision:
        return Decision(
            applies=False,
            reason=Reason.DENYLISTED,
            rule_id=self.rule_id,
            rule_version=self.version,
            stage=self.stage,
            detail=detail,
        )
