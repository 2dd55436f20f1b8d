"""A compiled rule and its evaluation: Context -> Decision, in the order of the evaluation contract.

Everything that can be decided when the config loads is decided then: the sets, the stage threshold of this
client's node, the discount as integer arithmetic, every refusal as a ready-made ``Decision``, and whether the
rule needs the gated steps at all (state, schedule, deny lists: one flag test for a rule that has none). A
payment then costs a few slot reads, set lookups and integer comparisons, one hash and at most one
``Decision``. This module never touches a store: kill switches and limits are the client's business.

Measured choices (CPython 3.11; docs/performance.md has the numbers): reasons are read from module constants
(an enum member lookup costs as much as building a ``Decision``); ``min()`` is avoided (a builtin call with
two arguments costs more than two comparisons); the clock is read only for rules with a schedule. A closure
per rule, reading cell variables instead of slots, measured no faster and made every compiled rule five times
heavier for the garbage collector, so evaluation is a plain method.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import mmh3

from ._bucketing import BUCKETS, threshold
from ._config import Rule, Stage
from ._errors import ConfigError
from ._iprange import IPRanges
from ._values import MAX_FIELD_LENGTH, Context, Decision, Reason, field_problem

if TYPE_CHECKING:
    from ._limits import LimitPlan

__all__ = ["NOT_TARGETED", "STEPS", "CompiledRule"]

STEPS: Mapping[Reason, str] = {
    Reason.UNKNOWN_RULE: "1. rule lookup: no such rule in this config",
    Reason.KILLED: "1. kill: the rule's state is killed or its kill switch is set",
    Reason.NOT_ACTIVE: "2. schedule: outside starts_at/ends_at",
    Reason.DENYLISTED: "3. deny lists",
    Reason.PAYMENT_TYPE: "4. eligibility: payment type not listed by the rule",
    Reason.REGION: "4. eligibility: region not listed by the rule",
    Reason.NOT_ELIGIBLE: "4. eligibility: amount or account",
    Reason.APPLIES_ALLOWLISTED: "5. allow list: smoke-test account, past stage and bucket gates",
    Reason.OUT_OF_STAGE: "6. stage: this cluster/node is not targeted by the current stage",
    Reason.OUT_OF_ROLLOUT: "7. rollout: bucket at or above the stage's threshold at this node",
    Reason.APPLIES_ROLLOUT: "7. rollout: bucket below the stage's threshold at this node",
    Reason.LIMIT_REACHED: "9. limits: a limit refused the claim",
    Reason.SHADOW: "10. shadow: would apply, but the rule is in shadow mode",
    Reason.ERROR: "fail closed: the payment could not be judged",
}
"""The step of the evaluation order that gives each reason (``graylib explain`` shows it)."""

NOT_TARGETED = -1
"""Stage threshold of a node the current stage does not target."""

_NO_LIMIT = 1 << 62
"""Upper bound of the fast amount check for a rule without ``max_amount`` (larger amounts are re-checked)."""
_THRESHOLD_CACHE_SIZE = 4096
"""Most (cluster, node) pairs a rule remembers thresholds for; the cache starts afresh when full."""
_CACHED_NAME_MAX = 256
"""Longest cluster + node (characters) whose threshold is remembered: longer names are judged, not kept."""

_hash: Callable[[str | bytes, int, bool], int] = mmh3.hash
"""MurmurHash3 of a key's UTF-8 form. Given a ``str`` it encodes without checking, and a lone surrogate
(no UTF-8 form) crashes the interpreter: so only ASCII text is hashed as text (the salt prefix is checked
when the rule is compiled); any other account is encoded first, which raises for a surrogate. Its bytes hash
to the same bucket as its text."""
_time = time.time
_APPLIES_ROLLOUT = Reason.APPLIES_ROLLOUT
_APPLIES_ALLOWLISTED = Reason.APPLIES_ALLOWLISTED
_OUT_OF_ROLLOUT = Reason.OUT_OF_ROLLOUT
_SHADOW = Reason.SHADOW
_NOT_ELIGIBLE = Reason.NOT_ELIGIBLE
_ZERO_DETAIL = "discount rounds down to 0"


class CompiledRule:
    """One rule, prepared for one client identity (cluster, node) and one config version.

    ``evaluate(ctx, now=None)`` decides steps 1 (config state) to 8 and 10 of the evaluation order; the caller
    handles unknown rules and kill switches.
    """

    __slots__ = (
        "_stage_thresholds",
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
        "den",
        "deny_accounts",
        "deny_any",
        "deny_devices",
        "deny_ips",
        "deny_merchants",
        "deny_regions",
        "ends",
        "fixed",
        "gated",
        "ip_ranges",
        "killed",
        "max_amount",
        "min_amount",
        "node",
        "num",
        "payment_types",
        "plan",
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

    def __init__(self, rule: Rule, *, version: str, cluster: str, node: str, plan: LimitPlan) -> None:
        self.rule = rule
        self.plan = plan
        """The rule's limits, prepared for claims (built with the rule by ``_compile.compile_rule``)."""
        self.rule_id = rule.id
        self.version = version
        self.cluster = cluster
        self.node = node
        self.killed = rule.state == "killed"
        self.shadow = rule.state == "shadow"
        self.stage = rule.rollout.stage
        self.prefix = f"{rule.bucket_salt}:"
        try:
            self.prefix.encode()  # the hot path hashes it as text: it must have a UTF-8 form
        except UnicodeEncodeError as exc:
            msg = f"rule {rule.id!r}: salt is not valid Unicode text (a lone surrogate): it cannot be hashed"
            raise ConfigError([msg]) from exc
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
        self.ip_ranges = self.deny_ips if self.deny_ips else None
        self.gated = self.killed or self.scheduled or self.deny_any
        discount = rule.discount
        if discount.amount is not None:
            self.fixed, self.num, self.den, self.cap = discount.amount, 0, 1, discount.amount
        else:
            assert discount.percent is not None and discount.max_off is not None
            pct = discount.percent
            self.fixed, self.num, self.den = -1, pct.numerator, 100 * pct.denominator
            self.cap = discount.max_off
            if self.num > self.den:
                msg = f"rule {rule.id!r}: a percentage above 100 passed validation"
                raise AssertionError(msg)
        self._stage_thresholds = _StageThresholds(rule.rollout.current, cluster, node)
        self.threshold = self._stage_thresholds.compute(cluster, node)

        refusal = self._refusal
        self.d_killed = refusal(Reason.KILLED, "rule state is killed")
        self.d_not_active = refusal(Reason.NOT_ACTIVE, "outside starts_at/ends_at")
        self.d_payment_type = refusal(Reason.PAYMENT_TYPE)
        self.d_region = refusal(Reason.REGION)
        self.d_too_small = refusal(Reason.NOT_ELIGIBLE, "amount below min_amount, or not a positive integer")
        self.d_too_large = refusal(Reason.NOT_ELIGIBLE, "amount above max_amount")
        self.d_no_account = refusal(Reason.NOT_ELIGIBLE, "no account to bucket by")
        self.d_out_of_stage = refusal(Reason.OUT_OF_STAGE)

    def evaluate(self, ctx: Context, now: float | None = None) -> Decision:
        """Steps 1 (config state) to 8 and 10 of the evaluation order, for one payment.

        ``now`` (seconds since the epoch) replaces the clock for the schedule check. May raise on a context
        of the wrong types; ``Client`` turns that into ``Reason.ERROR``.
        """
        if self.gated:  # one test for a rule that is live, has no schedule and no deny lists
            if self.killed:
                return self.d_killed
            # 2. schedule (the clock is read only for a rule that has one)
            if self.scheduled:
                t = _time() if now is None else now
                if t < self.starts or t >= self.ends:
                    return self.d_not_active
            # 3. deny lists (an empty list is a false frozenset; ``ip_ranges`` is None without IP entries)
            if self.deny_any:
                refusal = self._denied(ctx)
                if refusal is not None:
                    return refusal
        # 4. eligibility
        if ctx.payment_type not in self.payment_types:
            return self.d_payment_type
        regions = self.regions
        if regions is not None and ctx.region not in regions:
            return self.d_region
        amount = ctx.amount
        if type(amount) is not int or not self.min_amount <= amount <= self.max_amount:
            refusal = self._amount_refusal(amount)
            if refusal is not None:
                return refusal
        account = ctx.account
        if type(account) is not str or not 0 < len(account) <= MAX_FIELD_LENGTH:
            return self._account_refusal(account)
        if account.isascii():  # the common case: text and its UTF-8 bytes hash alike (prefix checked)
            bucket = _hash(self.prefix + account, 0, False) % BUCKETS
        else:
            try:
                key = (self.prefix + account).encode()
            except UnicodeEncodeError:  # a lone surrogate, as a JSON body's "\ud800" gives
                return self._account_refusal(account)
            bucket = _hash(key, 0, False) % BUCKETS
        # 5. allow list, else 6. stage and 7. bucket
        if account in self.allow:
            reason = _APPLIES_ALLOWLISTED
        else:
            # A context naming its own cluster or node is judged at that node (cached per node).
            bound = (
                self._stage_thresholds.get(ctx.cluster, ctx.node)
                if ctx.cluster or ctx.node
                else self.threshold
            )
            if bound < 0:
                return self.d_out_of_stage
            if bucket >= bound:
                return Decision(
                    applies=False,
                    reason=_OUT_OF_ROLLOUT,
                    rule_id=self.rule_id,
                    rule_version=self.version,
                    stage=self.stage,
                    bucket=bucket,
                )
            reason = _APPLIES_ROLLOUT
        # 8. discount: rounded down, capped, never above the amount (a percentage is at most 100)
        fixed = self.fixed
        if fixed < 0:
            off = amount * self.num // self.den
            cap = self.cap
            if off > cap:  # noqa: PLR1730 - min() costs more than the comparison
                off = cap
        else:
            off = fixed if fixed < amount else amount
        if off <= 0:  # rare: a small amount at a small percentage; the bucket was computed, so report it
            return Decision(
                applies=False,
                reason=_NOT_ELIGIBLE,
                rule_id=self.rule_id,
                rule_version=self.version,
                stage=self.stage,
                bucket=bucket,
                detail=_ZERO_DETAIL,
            )
        # 10. shadow
        if self.shadow:
            return Decision(
                applies=False,
                reason=_SHADOW,
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

    @property
    def compiled(self) -> CompiledRule:
        """Itself: a live rule is served as it is (see ``_runtime._served``)."""
        return self

    def judge(self, ctx: Context, now: float) -> tuple[Decision, Decision | None]:
        """What a claim needs: the decision, and no kill switch overriding it (see ``_runtime._served``)."""
        return self.evaluate(ctx, now), None

    def _amount_refusal(self, amount: object) -> Decision | None:
        """Step 4 for an amount outside the fast range check: the refusal, or None when it is eligible.

        A rule without ``max_amount`` compares against a large sentinel on the fast path (an int-to-int
        comparison is cheaper than one against infinity); an amount past the sentinel is still eligible.
        """
        if type(amount) is not int or amount < self.min_amount:
            return self.d_too_small
        if self.rule.max_amount is None:
            return None
        return self.d_too_large

    def _account_refusal(self, account: object) -> Decision:
        """Step 4 for an account that cannot be bucketed: missing, too long, or not valid text."""
        problem = field_problem("account", account)
        if problem is None:
            return self.d_no_account
        return self._refusal(Reason.ERROR, problem)

    def _denied(self, ctx: Context) -> Decision | None:
        """Step 3: the refusal of a payment on one of the rule's deny lists, or None."""
        if self.deny_accounts and ctx.account in self.deny_accounts:
            return self._refusal(Reason.DENYLISTED, f"account {ctx.account!r} is on the deny list")
        if self.deny_devices and ctx.device in self.deny_devices:
            return self._refusal(Reason.DENYLISTED, f"device {ctx.device!r} is on the deny list")
        if self.deny_merchants and ctx.merchant in self.deny_merchants:
            return self._refusal(Reason.DENYLISTED, f"merchant {ctx.merchant!r} is on the deny list")
        if self.deny_regions and ctx.region in self.deny_regions:
            return self._refusal(Reason.DENYLISTED, f"region {ctx.region!r} is on the deny list")
        ranges = self.ip_ranges
        if ranges is not None and ctx.ip:
            found = ranges.match(ctx.ip)
            if found == "":  # a well-formed address outside every range: the common case
                return None
            if found is None:
                detail = f"ip {str(ctx.ip)[:64]!r} is malformed; the rule has an IP deny list"
                return self._refusal(Reason.ERROR, detail)
            return self._refusal(Reason.DENYLISTED, f"ip {ctx.ip!r} is in deny list entry {found}")
        return None

    def _refusal(self, reason: Reason, detail: str = "") -> Decision:
        return Decision(
            applies=False,
            reason=reason,
            rule_id=self.rule_id,
            rule_version=self.version,
            stage=self.stage,
            detail=detail,
        )


class _StageThresholds:
    """Bucket thresholds of the current stage per (cluster, node), for contexts that name their own node."""

    __slots__ = ("_cache", "_cluster", "_node", "_stage")

    def __init__(self, stage: Stage, cluster: str, node: str) -> None:
        self._stage = stage
        self._cluster = cluster
        self._node = node
        self._cache: dict[tuple[str, str], int] = {}

    def compute(self, cluster: str, node: str) -> int:
        pct = self._stage.percent_at(cluster, node)
        return NOT_TARGETED if pct is None else threshold(float(pct))

    def get(self, cluster: str, node: str) -> int:
        """The threshold at ``cluster``/``node``; an empty cluster means this client's own (cached).

        A cluster or node that is not text is in no stage (fail closed). The cache holds at most
        ``_THRESHOLD_CACHE_SIZE`` pairs of short names, so contexts naming many or huge nodes cannot grow it
        without bound; a dict's ``get``, ``clear`` and item assignment are each atomic, so threads share it.
        """
        if not cluster:
            cluster = self._cluster
            node = node or self._node
        elif cluster == self._cluster and not node:
            node = self._node
        key = (cluster, node)
        cache = self._cache
        found = cache.get(key)
        if found is None:  # only text is ever cached, so odd types always come here
            if type(cluster) is not str or type(node) is not str:
                return NOT_TARGETED
            found = self.compute(cluster, node)
            if len(cluster) + len(node) <= _CACHED_NAME_MAX:
                if len(cache) >= _THRESHOLD_CACHE_SIZE:
                    cache.clear()
                cache[key] = found
        return found
