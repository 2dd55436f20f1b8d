"""Context, Decision and Reason: the values that cross the payment path.

These are the ground floor of the package and import nothing of ours. ``Context`` and ``Decision`` are
``msgspec.Struct`` classes (frozen, no GC tracking) because a payment service builds one of each per
payment: they cost a fraction of an attrs or ``__slots__`` instance to build, which matters when the whole
evaluation has to stay within a few multiples of one MurmurHash3 call. Building a ``Context`` validates
nothing; odd values are judged (and refused) by evaluation, which never raises.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = [
    "CONTEXT_FIELDS",
    "MAX_FIELD_LENGTH",
    "MAX_MONEY",
    "TEXT_FIELDS",
    "Context",
    "Decision",
    "Reason",
    "field_problem",
]

MAX_MONEY = 2**53 - 1
"""The largest amount (minor units) or count graylib handles: exact in every store, Redis's Lua numbers
(doubles) included. A config may name nothing larger, and stores refuse to count past it."""

MAX_FIELD_LENGTH = 256
"""The longest text (in characters) a ``Context`` field may hold when it is hashed or stored.

The account is hashed by every evaluation; a claim stores the account, payment id, payment type and
merchant (the payment's fingerprint) and the fields its limits count by (ip, device, region). A longer value
is refused (``Reason.ERROR``, the detail names the field) instead of being kept in a shared store, where
a thousand claims with a 100 KB account would take hundreds of megabytes.
"""


class Reason(str, enum.Enum):
    """Why a rule did or did not apply to a payment; the first failing step of evaluation decides."""

    APPLIES_ALLOWLISTED = "APPLIES_ALLOWLISTED"
    """Applies: the account is on the rule's allow list (smoke-test account), past stage and bucket gates."""
    APPLIES_ROLLOUT = "APPLIES_ROLLOUT"
    """Applies: this node is in the current stage and the account's bucket is under its percentage."""
    UNKNOWN_RULE = "UNKNOWN_RULE"
    """No rule with this id in the running configuration."""
    KILLED = "KILLED"
    """The rule's state is ``killed`` or its kill switch is set in the store."""
    NOT_ACTIVE = "NOT_ACTIVE"
    """Outside the rule's ``starts_at`` / ``ends_at`` schedule."""
    DENYLISTED = "DENYLISTED"
    """Account, IP, device, merchant or region is on the rule's deny list."""
    PAYMENT_TYPE = "PAYMENT_TYPE"
    """The payment type is not one the rule lists."""
    REGION = "REGION"
    """The rule lists regions and the payment's region is not one of them."""
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    """Amount outside the rule's range, or no account to bucket by."""
    OUT_OF_STAGE = "OUT_OF_STAGE"
    """This cluster/node is not targeted by the rule's current stage."""
    OUT_OF_ROLLOUT = "OUT_OF_ROLLOUT"
    """The account's bucket is at or above the stage's percentage at this node."""
    LIMIT_REACHED = "LIMIT_REACHED"
    """A spend limit refused the claim; ``Decision.detail`` names which."""
    SHADOW = "SHADOW"
    """The rule would apply but is in shadow mode; ``discount`` shows what it would have granted."""
    ERROR = "ERROR"
    """Anything unexpected (bad context, store down, internal fault): failing closed."""

    def __str__(self) -> str:
        return self.value


class Context(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """One payment, as the caller describes it.

    ``amount`` is in integer minor units (cents, fen). ``cluster`` and ``node`` override the client's own
    identity when given (a gateway deciding for another node). ``attributes`` carries anything else a
    caller wants recorded with the payment; evaluation does not read it.

    Text fields that are hashed or stored (``account`` by every evaluation; ``payment_id``,
    ``payment_type``, ``merchant`` and the fields a rule's limits count by, by a claim) must be valid
    Unicode text of at most ``MAX_FIELD_LENGTH`` (256) characters. A longer value, or one that cannot be
    encoded as UTF-8 (a lone surrogate such as ``json.loads('"\\ud800"')`` gives), is refused with
    ``Reason.ERROR`` and a detail naming the field: nothing is hashed or stored.
    """

    account: str = ""
    payment_type: str = ""
    amount: int = 0
    payment_id: str = ""
    region: str = ""
    ip: str = ""
    device: str = ""
    merchant: str = ""
    cluster: str = ""
    node: str = ""
    attributes: Mapping[str, Any] | None = None


class Decision(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """The answer for one rule and one payment.

    ``applies`` is the only field a caller must act on; ``discount`` (minor units) is what to take off, and
    for ``Reason.SHADOW`` what would have been taken off. ``detail`` says more where the reason alone does not
    (which limit, which deny list, what went wrong). ``bucket`` is the account's bucket in parts per million,
    or -1 when evaluation stopped before bucketing.
    """

    applies: bool
    reason: Reason
    discount: int = 0
    rule_id: str = ""
    rule_version: str = ""
    stage: str = ""
    bucket: int = -1
    detail: str = ""
    limit: str = ""
    """For ``LIMIT_REACHED``: the kind of limit that refused the claim (``per_account``, ``per_ip``,
    ``per_device``, ``per_merchant``, ``per_region`` or ``total``); empty otherwise."""


CONTEXT_FIELDS: tuple[str, ...] = tuple(
    f.name for f in msgspec.structs.fields(Context) if f.name != "attributes"
)
"""The ``Context`` fields a payment is described by (all but the free-form ``attributes``), in order."""
TEXT_FIELDS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(Context) if f.type is str)
"""The ``Context`` fields that hold text (every one but ``amount`` and ``attributes``)."""


def field_problem(name: str, value: object) -> str | None:
    """Why the text ``value`` of the field ``name`` cannot be hashed or stored, or None when it can.

    A value that is not text is left to the caller (evaluation judges types itself). The detail never
    repeats the value: it may be huge, or not printable as UTF-8.
    """
    if type(value) is not str:
        return None
    if len(value) > MAX_FIELD_LENGTH:
        return f"{name}: longer than {MAX_FIELD_LENGTH} characters (got {len(value)}); not hashed or stored"
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            return (
                f"{name}: not valid Unicode text (a lone surrogate at position {exc.start}); "
                "not hashed or stored"
            )
    return None
