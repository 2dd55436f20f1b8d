"""Publishing rules to a store, its history, rollback as a roll-forward, and the fleet view (DESIGN §11).

``publish`` runs what a following client runs before it swaps in a new revision (validation, smoke cases,
the change policy against the current revision, approvals counted by the same ``plan_change``), then asks
the store to make it current by compare-and-set against the number it checked: of two racing publishes
exactly one wins, the other gets ``ConflictError`` and changes nothing.

Approvals: by default they are the names in the new file's ``[change].approved_by``, as a following client
counts them. ``trust`` is the hook for approvals that cannot be forged: a callable given the exact text and
its config, returning the names whose approval is proven (e.g. by signatures over the text); those names
replace ``approved_by`` for the policy check, so only they count.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import attrs

from ._compile import Snapshot, digest_text
from ._config import Config
from ._errors import ConfigError, PolicyError, StoreError
from ._load import RulesText, build, read_text
from ._policy import Plan, plan_change
from .stores import Instance, Revision, Store

__all__ = [
    "ApprovalCheck",
    "Prepared",
    "commit",
    "fleet",
    "history",
    "prepare",
    "prepare_rollback",
    "publish",
    "rollback",
    "running_config",
]

ApprovalCheck = Callable[[str, Config], Sequence[str]]
"""The trust hook: ``(exact rules text, its config) -> names whose approval counts``."""

SILENT_AFTER = 3
"""Heartbeats without a record after which a fleet member is called silent."""


@attrs.frozen
class Prepared:
    """A checked change, ready to commit: what would be published, against which revision, and its plan."""

    rules: RulesText
    snapshot: Snapshot
    current: Revision | None
    plan: Plan
    rollback_of: int | None = None

    @property
    def expected(self) -> int:
        """The number the publish was checked against (0: an empty store)."""
        return self.current.number if self.current is not None else 0

    @property
    def unchanged(self) -> bool:
        """The text is exactly the current revision's: publishing it would change nothing."""
        return self.current is not None and self.current.digest == self.snapshot.digest


def _as_text(rules: str | os.PathLike[str] | RulesText) -> RulesText:
    if isinstance(rules, RulesText):
        return rules
    if isinstance(rules, str | os.PathLike):
        return read_text(rules)
    msg = f"publish() takes a path to a rules file or a RulesText, not {type(rules).__name__}"
    raise TypeError(msg)


def running_config(store: Store) -> Revision | None:
    """The current revision (None: nothing published); ``StoreError`` when its number has no revision."""
    head = store.head_revision()
    if head == 0:
        return None
    current = store.revision(head)
    if current is None:
        msg = f"the store names revision {head} as current but does not have it; the store is damaged"
        raise StoreError(msg)
    return current


def _config_of(revision: Revision) -> Config:
    return build(RulesText(revision.text, revision.format, f"revision {revision.number}")).config


def prepare(
    store: Store,
    rules: str | os.PathLike[str] | RulesText,
    *,
    trust: ApprovalCheck | None = None,
    rollback_of: int | None = None,
    running: Config | None = None,
) -> Prepared:
    """Read, validate and smoke-test ``rules``, and plan it against the store's current revision.

    ``running`` is what the fleet runs when nothing is published yet (adopting a fleet that ran a file):
    the first revision is planned against it instead of against nothing (every rule new). It is ignored
    once the store has a revision.

    Raises ``ConfigError`` (invalid, or smoke cases fail), ``StoreError`` (store unreachable or damaged);
    a policy refusal is not raised here: it is in ``plan.violations`` (``commit`` refuses it).
    """
    text = _as_text(rules)
    snapshot = build(text)
    current = running_config(store)
    config = snapshot.config
    if trust is not None:
        proven = tuple(trust(text.text, config))
        config = attrs.evolve(config, change=attrs.evolve(config.change, approved_by=proven))
    old = _config_of(current) if current is not None else running
    plan = plan_change(old, config)
    return Prepared(text, snapshot, current, plan, rollback_of)


def commit(
    store: Store, prepared: Prepared, *, by: str = "", note: str = "", now: float | None = None
) -> Revision:
    """Publish a prepared change: ``PolicyError`` if its plan is refused, ``ConflictError`` if the store
    moved on since it was checked (plan again) or its version names another text; else the new revision.
    An unchanged text returns the current revision and changes nothing."""
    if not prepared.plan.allowed:
        raise PolicyError(str(v) for v in prepared.plan.violations)
    if prepared.unchanged and prepared.current is not None:
        return prepared.current
    config = prepared.snapshot.config
    revision = Revision(
        number=0,
        version=config.version,
        digest=digest_text(prepared.rules.text),
        text=prepared.rules.text,
        format=prepared.rules.format,
        author=prepared.plan.author,
        approvers=prepared.plan.approvers,
        published_at=time.time() if now is None else now,
        published_by=by,
        note=note,
        rollback_of=prepared.rollback_of,
    )
    return store.append_revision(revision, prepared.expected)


def publish(
    store: Store,
    rules: str | os.PathLike[str] | RulesText,
    *,
    by: str = "",
    note: str = "",
    trust: ApprovalCheck | None = None,
    running: Config | None = None,
) -> Revision:
    """Check ``rules`` (a path, or a ``RulesText``) as a following client would, and publish it as the
    store's new current revision. See ``prepare`` and ``commit`` for what is raised."""
    return commit(store, prepare(store, rules, trust=trust, running=running), by=by, note=note)


def history(store: Store, *, limit: int = 100) -> list[Revision]:
    """The published revisions, newest first (at most ``limit``)."""
    return store.revisions(limit)


def prepare_rollback(store: Store, *, to: int | None = None, trust: ApprovalCheck | None = None) -> Prepared:
    """The roll-forward that publishes revision ``to``'s text again (default: the one before the current).

    ``ValueError`` for a rollback that cannot be: nothing published, no earlier revision, no revision
    ``to``, or ``to`` being the current revision (or having its text).
    """
    current = running_config(store)
    if current is None:
        msg = "nothing is published in this store: there is nothing to roll back"
        raise ValueError(msg)
    target_number = current.number - 1 if to is None else to
    if isinstance(target_number, bool) or not isinstance(target_number, int):
        msg = f"rollback to= must be a revision number (got {to!r})"
        raise TypeError(msg)
    if target_number == current.number:
        msg = f"revision {current.number} is the current revision: nothing to roll back to"
        raise ValueError(msg)
    target = store.revision(target_number) if target_number >= 1 else None
    if target is None:
        what = "there is no revision before it" if to is None else f"there is no revision {target_number}"
        msg = f"cannot roll back: the current revision is {current.number} and {what}"
        raise ValueError(msg)
    if target.digest == current.digest:
        msg = f"revision {target_number} has exactly the current revision's text: nothing to roll back"
        raise ValueError(msg)
    rules = RulesText(target.text, target.format, f"revision {target_number}")
    try:
        return prepare(store, rules, trust=trust, rollback_of=target_number)
    except ConfigError as exc:
        msg = f"revision {target_number} is not valid with this graylib, so it is not republished: {exc}"
        raise ValueError(msg) from exc


def rollback(
    store: Store,
    *,
    to: int | None = None,
    by: str = "",
    note: str = "",
    trust: ApprovalCheck | None = None,
) -> Revision:
    """Publish an earlier revision's text as a new revision (a roll-forward; followers only go up).

    A rollback that only narrows exposure needs no approvals; one that widens needs them like any change
    (the old text's own approvals, as its plan shows). Raises as ``prepare_rollback`` and ``commit`` do.
    """
    prepared = prepare_rollback(store, to=to, trust=trust)
    return commit(store, prepared, by=by, note=note or f"rollback to revision {prepared.rollback_of}")


def fleet(store: Store, *, now: float | None = None) -> list[Instance]:
    """Every following client's record, with ``behind`` (serves another revision than the current one) and
    ``silent`` (no record for three heartbeats) filled in."""
    now = time.time() if now is None else now
    head = store.head_revision()
    return [
        attrs.evolve(
            instance,
            behind=instance.revision != head,
            silent=now - instance.last_seen > SILENT_AFTER * instance.heartbeat,
        )
        for instance in store.instances(now)
    ]
