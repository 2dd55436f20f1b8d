"""An OpenFeature provider backed by a graylib ``Client`` (needs the ``openfeature`` extra).

Services that already evaluate flags through the OpenFeature SDK can ask graylib through it::

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from graylib.openfeature import GraylibProvider

    api.set_provider(GraylibProvider(client))
    flags = api.get_client()
    context = EvaluationContext(targeting_key="u-1", attributes={"payment_type": "online_purchase",
                                                                "amount": 129_900, "region": "CN-31"})
    flags.get_boolean_value("subsidy-2025", False, context)   # does the rule apply?
    flags.get_integer_value("subsidy-2025", 0, context)       # the discount, in minor units

The flag key is the rule id and the targeting key is the account. The evaluation context's attributes fill the
other ``Context`` fields (``payment_type``, ``amount``, ``region``, ``ip``, ``device``, ``merchant``,
``payment_id``, ``cluster``, ``node``); any other attribute is kept in ``Context.attributes``. Each
resolution is one pure ``Client.evaluate``: nothing is claimed or counted against limits (use
``Client.claim`` for that). graylib's reason, detail, rule version, stage, bucket and discount are in the flag
metadata; graylib's reasons map onto OpenFeature's:

=================================================  ==================================================
graylib                                            OpenFeature
=================================================  ==================================================
``APPLIES_ALLOWLISTED``, ``DENYLISTED``            ``TARGETING_MATCH``
``APPLIES_ROLLOUT``, ``OUT_OF_ROLLOUT``            ``SPLIT``
``PAYMENT_TYPE``, ``REGION``, ``NOT_ELIGIBLE``,    ``DEFAULT``
``LIMIT_REACHED``
``KILLED``, ``NOT_ACTIVE``, ``OUT_OF_STAGE``,      ``DISABLED``
``SHADOW``
``UNKNOWN_RULE``                                   ``ERROR``, code ``FLAG_NOT_FOUND``
``ERROR``                                          ``ERROR``, code ``GENERAL``
=================================================  ==================================================

A context without a targeting key answers ``TARGETING_KEY_MISSING`` and one whose attributes have the wrong
types (an amount that is not an integer, a region that is not a string) ``INVALID_CONTEXT``; asking for a
string, float or object value answers ``TYPE_MISMATCH``. Every error returns the caller's default value, as
OpenFeature requires; nothing raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
from openfeature.flag_evaluation import Reason as OFReason
from openfeature.provider import AbstractProvider, Metadata

from ._client import Client
from ._values import CONTEXT_FIELDS, TEXT_FIELDS, Context, Decision, Reason

__all__ = ["REASONS", "GraylibProvider"]

T = TypeVar("T")

REASONS: Mapping[Reason, OFReason] = {
    Reason.APPLIES_ALLOWLISTED: OFReason.TARGETING_MATCH,
    Reason.DENYLISTED: OFReason.TARGETING_MATCH,
    Reason.APPLIES_ROLLOUT: OFReason.SPLIT,
    Reason.OUT_OF_ROLLOUT: OFReason.SPLIT,
    Reason.PAYMENT_TYPE: OFReason.DEFAULT,
    Reason.REGION: OFReason.DEFAULT,
    Reason.NOT_ELIGIBLE: OFReason.DEFAULT,
    Reason.LIMIT_REACHED: OFReason.DEFAULT,
    Reason.KILLED: OFReason.DISABLED,
    Reason.NOT_ACTIVE: OFReason.DISABLED,
    Reason.OUT_OF_STAGE: OFReason.DISABLED,
    Reason.SHADOW: OFReason.DISABLED,
    Reason.UNKNOWN_RULE: OFReason.ERROR,
    Reason.ERROR: OFReason.ERROR,
}
"""How each graylib reason is reported to OpenFeature."""

_ERROR_CODES: Mapping[Reason, ErrorCode] = {
    Reason.UNKNOWN_RULE: ErrorCode.FLAG_NOT_FOUND,
    Reason.ERROR: ErrorCode.GENERAL,
}

_TEXT_FIELDS = tuple(f for f in TEXT_FIELDS if f != "account")
"""The text ``Context`` fields an attribute fills (the account is the targeting key): derived from
``Context``, so a field added there is mapped here too."""
_FIELDS = frozenset(f for f in CONTEXT_FIELDS if f != "account")


class _InvalidContext(Exception):
    """The evaluation context cannot become a graylib ``Context``; the message says why."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _context(evaluation_context: EvaluationContext | None) -> Context:
    """The graylib ``Context`` of an OpenFeature evaluation context; raises ``_InvalidContext``."""
    if evaluation_context is None or not evaluation_context.targeting_key:
        raise _InvalidContext(ErrorCode.TARGETING_KEY_MISSING, "the targeting key (the account) is required")
    account = evaluation_context.targeting_key
    if not isinstance(account, str):
        msg = f"the targeting key must be a string (got {type(account).__name__})"
        raise _InvalidContext(ErrorCode.INVALID_CONTEXT, msg)
    attributes = evaluation_context.attributes or {}
    fields: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = attributes.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            msg = f"attribute {name!r} must be a string (got {type(value).__name__})"
            raise _InvalidContext(ErrorCode.INVALID_CONTEXT, msg)
        fields[name] = value
    amount = attributes.get("amount")
    if amount is not None:
        if type(amount) is not int:
            msg = f"attribute 'amount' must be an integer number of minor units (got {type(amount).__name__})"
            raise _InvalidContext(ErrorCode.INVALID_CONTEXT, msg)
        fields["amount"] = amount
    extra = {k: v for k, v in attributes.items() if k not in _FIELDS}
    return Context(account=account, attributes=extra or None, **fields)


def _metadata(decision: Decision) -> dict[str, bool | int | float | str]:
    return {
        "reason": decision.reason.value,
        "detail": decision.detail,
        "rule_version": decision.rule_version,
        "stage": decision.stage,
        "bucket": decision.bucket,
        "discount": decision.discount,
    }


class GraylibProvider(AbstractProvider):
    """OpenFeature provider: the flag key is a rule id, the targeting key the account.

    Boolean flags tell whether the rule applies; integer flags give the discount in minor units (0 when the
    rule does not apply). See the module docstring for the context attributes and the reason mapping.
    """

    def __init__(self, client: Client, *, name: str = "graylib") -> None:
        super().__init__()
        if not isinstance(client, Client):
            msg = f"GraylibProvider(client) needs a graylib.Client (got {type(client).__name__})"
            raise TypeError(msg)
        self._client = client
        self._metadata = Metadata(name=name)

    @property
    def client(self) -> Client:
        """The graylib client that answers."""
        return self._client

    def get_metadata(self) -> Metadata:
        return self._metadata

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        """Whether rule ``flag_key`` applies to the payment in ``evaluation_context``."""
        return self._resolve(flag_key, default_value, evaluation_context, _applies)

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        """The discount (minor units) rule ``flag_key`` grants the payment; 0 when it does not apply."""
        return self._resolve(flag_key, default_value, evaluation_context, _discount)

    def _resolve(
        self,
        flag_key: str,
        default_value: T,
        evaluation_context: EvaluationContext | None,
        value_of: Callable[[Decision], T],
    ) -> FlagResolutionDetails[T]:
        """One decision turned into OpenFeature's answer, the value taken from it by ``value_of``."""
        decision = self._decide(flag_key, evaluation_context)
        if isinstance(decision, FlagResolutionDetails):
            return _failed(decision, default_value)
        if decision.reason in _ERROR_CODES:
            return _error(decision, default_value)
        return FlagResolutionDetails(
            value=value_of(decision),
            reason=REASONS[decision.reason],
            variant="applies" if decision.applies else "does-not-apply",
            flag_metadata=_metadata(decision),
        )

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        return _mismatch(default_value, "string")

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return _mismatch(default_value, "float (money is integer minor units: use an integer flag)")

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        return _mismatch(default_value, "object")

    def _decide(
        self, flag_key: str, evaluation_context: EvaluationContext | None
    ) -> Decision | FlagResolutionDetails[None]:
        try:
            ctx = _context(evaluation_context)
        except _InvalidContext as exc:
            return FlagResolutionDetails(
                value=None, reason=OFReason.ERROR, error_code=exc.code, error_message=exc.message
            )
        return self._client.evaluate(flag_key, ctx)


def _failed(failure: FlagResolutionDetails[None], default_value: T) -> FlagResolutionDetails[T]:
    return FlagResolutionDetails(
        value=default_value,
        reason=OFReason.ERROR,
        error_code=failure.error_code,
        error_message=failure.error_message,
    )


def _error(decision: Decision, default_value: T) -> FlagResolutionDetails[T]:
    message = decision.detail or (
        f"no rule {decision.rule_id!r} in config version {decision.rule_version!r}"
        if decision.reason is Reason.UNKNOWN_RULE
        else decision.reason.value
    )
    return FlagResolutionDetails(
        value=default_value,
        reason=OFReason.ERROR,
        error_code=_ERROR_CODES[decision.reason],
        error_message=message,
        flag_metadata=_metadata(decision),
    )


def _mismatch(default_value: T, kind: str) -> FlagResolutionDetails[T]:
    return FlagResolutionDetails(
        value=default_value,
        reason=OFReason.ERROR,
        error_code=ErrorCode.TYPE_MISMATCH,
        error_message=f"graylib rules answer boolean (applies) and integer (discount) flags, not {kind}",
    )


def _applies(decision: Decision) -> bool:
    return decision.applies


def _discount(decision: Decision) -> int:
    return decision.discount if decision.applies else 0
