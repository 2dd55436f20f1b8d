"""A compiled rule and its evaluation: Context -> Decision, in the order of the evaluation contract.

Everything that can be decided when the config loads is decided then: the sets, the stage threshold of this
client's node, the discount as integer arithmetic, every refusal as a ready-made ``Decision``, and even the
shape of the evaluation itself. ``CompiledRule.evaluate`` is a closure built once per rule whose variables
are the rule's prepared values, so judging a payment reads cell variables rather than attributes; a rule
without a schedule or deny lists skips those steps with one flag test each. A payment then costs a few set
lookups, integer comparisons, one hash and at most one ``Decision``. This module never touches a store: kill
switches and limits are the client's business.

Measured choices (CPython 3.11; docs/performance.md has the numbers): reasons are read from module constants
(an enum member lookup costs as much as building a ``Decision``); ``min()`` is avoided (a builtin call with
two arguments costs more than two comparisons); the clock is read only for rules with a schedule.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import mmh3

from ._bucketing import BUCKETS, threshold
from ._config import Rule
from ._iprange import IPRanges
from ._values import Context, Decision, Reason

__all__ = ["NOT_TARGETED", "CompiledRule", "Evaluator"]

NOT_TARGETED = -1
"""Stage threshold of a node the current stage does not target."""

_NO_LIMIT = 1 << 62
_THRESHOLD_CACHE_SIZE = 4096

_hash: Callable[[str, int, bool], int] = mmh3.hash
_time = time.time
_APPLIES_ROLLOUT = Reason.APPLIES_ROLLOUT
_APPLIES_ALLOWLISTED = Reason.APPLIES_ALLOWLISTED
_OUT_OF_ROLLOUT = Reason.OUT_OF_ROLLOUT
_SHADOW = Reason.SHADOW


class Evaluator(Protocol):
    """Steps 2-8 and 10 of the evaluation order for one compiled rule.

    ``now`` (seconds since the epoch) replaces the clock for the schedule check. May raise on a context of
    the wrong types; ``Client`` turns that into ``Reason.ERROR``.
    """

    def __call__(self, ctx: Context, now: float | None = None, /) -> Decision: ...


class CompiledRule:
    """One rule, prepared for one client identity (cluster, node) and one config version.

    ``evaluate(ctx, now=None)`` decides steps 2-8 and 10 of the evaluation order (the caller handles unknown
    rules and kill switches).
    """

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
        "evaluate",
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

    evaluate: Evaluator

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
        self.evaluate = _killed_evaluator(self) if self.killed else _evaluator(self)

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

    # -- deny lists (step 3): the refusals, built only when a payment is refused ----------------------------

    def deny_decision(self, field: str, value: object) -> Decision:
        """The ``DENYLISTED`` refusal of a payment whose ``field`` is on the rule's deny list."""
        return Decision(
            applies=False,
            reason=Reason.DENYLISTED,
            rule_id=self.rule_id,
            rule_version=self.version,
            stage=self.stage,
            detail=f"{field} {value!r} is on the deny list",
        )

    def ip_denied(self, ip: str) -> Decision | None:
        """The refusal of a payment from ``ip`` (``DENYLISTED``, or ``ERROR`` when malformed), else None."""
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
            return Decision(
                applies=False,
                reason=Reason.DENYLISTED,
                rule_id=self.rule_id,
                rule_version=self.version,
                stage=self.stage,
                detail=f"ip {ip!r} is in deny list entry {found}",
            )
        return None


def _killed_evaluator(rule: CompiledRule) -> Evaluator:
    """A rule whose config state is ``killed`` refuses every payment with the same decision."""
    d_killed = rule.d_killed

    def evaluate(ctx: Context, now: float | None = None, /) -> Decision:
        return d_killed

    return evaluate


def _evaluator(rule: CompiledRule) -> Evaluator:
    """The evaluation closure of a live (active or shadow) rule: steps 2-8 and 10, in contract order."""
    scheduled, starts, ends, d_not_active = rule.scheduled, rule.starts, rule.ends, rule.d_not_active
    deny_any, deny_accounts, deny_devices = rule.deny_any, rule.deny_accounts, rule.deny_devices
    deny_merchants, deny_regions = rule.deny_merchants, rule.deny_regions
    ip_ranges = rule.deny_ips if rule.deny_ips else None
    payment_types, d_payment_type = rule.payment_types, rule.d_payment_type
    regions, d_region = rule.regions, rule.d_region
    min_amount, max_amount = rule.min_amount, rule.max_amount
    d_too_small, d_too_large, d_no_account = rule.d_too_small, rule.d_too_large, rule.d_no_account
    prefix, allow, buckets = rule.prefix, rule.allow, BUCKETS
    own_threshold, threshold_for, d_out_of_stage = rule.threshold, rule.threshold_for, rule.d_out_of_stage
    fixed, num, den, cap, d_zero = rule.fixed, rule.num, rule.den, rule.cap, rule.d_zero
    shadow, rule_id, version, stage = rule.shadow, rule.rule_id, rule.version, rule.stage
    gated = scheduled or deny_any
    if fixed < 0 and num > den:
        msg = f"rule {rule_id!r}: a percentage above 100 passed validation"
        raise AssertionError(msg)

    def evaluate(ctx: Context, now: float | None = None, /) -> Decision:
        if gated:  # one test for a rule without schedule and deny lists
            # 2. schedule (the clock is read only for a rule that has one)
            if scheduled:
                t = _time() if now is None else now
                if t < starts or t >= ends:
                    return d_not_active
            # 3. deny lists (an empty list is a false frozenset; ``ip_ranges`` is None without IP entries)
            if deny_any:
                if deny_accounts and ctx.account in deny_accounts:
                    return rule.deny_decision("account", ctx.account)
                if deny_devices and ctx.device in deny_devices:
                    return rule.deny_decision("device", ctx.device)
                if deny_merchants and ctx.merchant in deny_merchants:
                    return rule.deny_decision("merchant", ctx.merchant)
                if deny_regions and ctx.region in deny_regions:
                    return rule.deny_decision("region", ctx.region)
                if ip_ranges is not None and ctx.ip:
                    refusal = rule.ip_denied(ctx.ip)
                    if refusal is not None:
                        return refusal
        # 4. eligibility
        if ctx.payment_type not in payment_types:
            return d_payment_type
        if regions is not None and ctx.region not in regions:
            return d_region
        amount = ctx.amount
        if type(amount) is not int or not min_amount <= amount <= max_amount:
            return d_too_small if type(amount) is not int or amount < min_amount else d_too_large
        account = ctx.account
        if type(account) is not str or not account:
            return d_no_account
        bucket = _hash(prefix + account, 0, False) % buckets
        # 5. allow list, else 6. stage and 7. bucket
        if account in allow:
            reason = _APPLIES_ALLOWLISTED
        else:
            # A context naming its own cluster or node is judged at that node (cached per node).
            bound = threshold_for(ctx.cluster, ctx.node) if ctx.cluster or ctx.node else own_threshold
            if bound < 0:
                return d_out_of_stage
            if bucket >= bound:
                return Decision(
                    applies=False,
                    reason=_OUT_OF_ROLLOUT,
                    rule_id=rule_id,
                    rule_version=version,
                    stage=stage,
                    bucket=bucket,
                )
            reason = _APPLIES_ROLLOUT
        # 8. discount: rounded down, capped, never above the amount (a percentage is at most 100)
        if fixed < 0:
            off = amount * num // den
            if off > cap:  # noqa: PLR1730 - min() costs more than the comparison
                off = cap
        else:
            off = fixed if fixed < amount else amount
        if off <= 0:
            return d_zero
        # 10. shadow
        if shadow:
            return Decision(
                applies=False,
                reason=_SHADOW,
                discount=off,
                rule_id=rule_id,
                rule_version=version,
                stage=stage,
                bucket=bucket,
                detail=f"would apply ({reason.value})",
            )
        return Decision(
            applies=True,
            reason=reason,
            discount=off,
            rule_id=rule_id,
            rule_version=version,
            stage=stage,
            bucket=bucket,
        )

    return evaluate
