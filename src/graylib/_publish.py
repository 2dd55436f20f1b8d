"""Publishing rules to a store, its history, rollback as a roll-forward, and the fleet view (DESIGN §11).

``publish`` runs what a following client runs before it swaps in a new revision (validation, smoke cases,
the change policy against the current revision, approvals counted by the same ``plan_change``), then asks
the store to make it current by compare-and-set against the number it checked: of two racing publishes
exactly one wins, the other gets ``ConflictError`` and changes nothing.

Approvals: without a trust file they are the names in the new file's ``[change].approved_by``, as a
following client without one counts them. With ``trust`` (a trust file, DESIGN §12) they are the valid
signatures over the exact bytes published (``_policy.signed_approvals``, as ``graylib plan --trust`` and a
signed client count them): the file is read once as bytes, built from those bytes, and its signature file
(``FILE.sig``) is checked against them. The signature file is stored with the revision whether or not this
publish has a trust file, so that every following client with one checks the signatures itself. A
rollback counts the signatures stored with the revision it restores, if they are still valid.
"""

from __future__ import annotations

import os
import time

import attrs

from ._compile import Snapshot, digest_text
from ._config import Config
from ._errors import ConfigError, PolicyError, StoreError
from ._load import RulesText, build, text_of_bytes
from ._policy import Plan, plan_change, signed_approvals
from ._trust import (
    Trust,
    read_bounded,
    read_chain,
    read_signature_file,
    require_signing,
    signature_path,
    trust_in_force,
)
from .stores import Instance, Revision, Store
from .stores._revisions import signatures_text

__all__ = [
    "Prepared",
    "commit",
    "fleet",
    "history",
    "prepare",
    "prepare_rollback",
    "publish",
    "rollback",
    "running_config",
    "trust_for",
]

TrustSource = str | os.PathLike[str] | Trust
"""A trust file's path (read and validated when used), or one already read."""

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
    signatures: bytes | None = None
    """The signature file published with the text (None: none)."""

    @property
    def expected(self) -> int:
        """The number the publish was checked against (0: an empty store)."""
        return self.current.number if self.current is not None else 0

    @property
    def unchanged(self) -> bool:
        """The text is exactly the current revision's: publishing it would change nothing."""
        return self.current is not None and self.current.digest == self.snapshot.digest


def _read(rules: str | os.PathLike[str] | RulesText) -> tuple[RulesText, bytes]:
    """The rules text and its exact bytes: a file is read once, as bytes, and decoded from them."""
    if isinstance(rules, RulesText):
        return rules, rules.text.encode("utf-8", "surrogatepass")
    if isinstance(rules, str | os.PathLike):
        name = os.fspath(rules)
        data = read_bounded(name)
        return text_of_bytes(data, name), data
    msg = f"publish() takes a path to a rules file or a RulesText, not {type(rules).__name__}"
    raise TypeError(msg)


def _signatures_of(
    rules: str | os.PathLike[str] | RulesText, signatures: str | os.PathLike[str] | None
) -> bytes | None:
    """The signature file to publish: ``signatures`` (must exist), else ``FILE.sig`` beside a rules file
    (None when there is none, or when the rules are a ``RulesText``)."""
    if signatures is not None:
        path, explicit = os.fspath(signatures), True
    elif isinstance(rules, RulesText):
        return None
    else:
        path, explicit = os.fspath(signature_path(rules)), False
    try:
        return read_signature_file(path)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(["no such signature file"], source=path) from None
        return None
    except OSError as exc:
        raise ConfigError([f"cannot read the signature file: {exc}"], source=path) from exc


def trust_for(store: Store, trust: TrustSource | None, where: str) -> Trust | None:
    """The trust file ``where`` (``publish``, ``rollback``) counts signatures against: the one in force in
    the store when it has one (DESIGN §12), else ``trust`` (None: approvals are names).

    A store has one root of trust: ``trust`` given too must be the store's trust file in force, byte for
    byte, else ``PolicyError``. ``ConfigError`` when the store's chain cannot be read as trust files.
    """
    given = trust_in_force(trust, where)
    chain = read_chain(store)
    if chain is None:
        return given
    if given is not None and given.digest != chain.trust.digest:
        named = f"{given.source} (version {given.version})" if given.source else f"version {given.version}"
        msg = (
            f"the trust file given, {named}, is not the trust file in force in the store (trust file "
            f"{chain.record.number}, version {chain.trust.version}): a store has one root of trust; give "
            "no trust file, or the store's (graylib trust show --store URL)"
        )
        raise PolicyError([msg])
    require_signing()
    return chain.trust


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
    trust: TrustSource | None = None,
    signatures: str | os.PathLike[str] | None = None,
    rollback_of: int | None = None,
    running: Config | None = None,
) -> Prepared:
    """Read, validate and smoke-test ``rules``, and plan it against the store's current revision.

    With ``trust`` only valid signatures (``signatures``, default ``FILE.sig``) over the exact bytes read
    count as approvals; a trust file published in the store is used without ``trust``, and ``trust`` given
    too must be that one (``trust_for``). ``running`` is what the fleet runs when nothing is published yet
    (adopting a fleet that ran a file): the first revision is planned against it instead of against nothing
    (every rule new). It is ignored once the store has a revision.

    Raises ``ConfigError`` (invalid, smoke cases fail, an unreadable signature or trust file),
    ``PolicyError`` (``trust`` is not the store's trust file in force),
    ``StoreError`` (store unreachable or damaged); a policy refusal is not raised here: it is in
    ``plan.violations`` (``commit`` refuses it).
    """
    text, data = _read(rules)
    sig_bytes = _signatures_of(rules, signatures)
    return _prepared(
        store,
        text,
        data,
        sig_bytes,
        trust_for(store, trust, "publish"),
        rollback_of=rollback_of,
        running=running,
    )


def _prepared(
    store: Store,
    text: RulesText,
    data: bytes,
    sig_bytes: bytes | None,
    trust: Trust | None,
    *,
    rollback_of: int | None = None,
    running: Config | None = None,
) -> Prepared:
    snapshot = build(text)
    current = running_config(store)
    approvals = signed_approvals(snapshot.config, data, sig_bytes, trust) if trust is not None else None
    old = _config_of(current) if current is not None else running
    plan = plan_change(old, snapshot.config, approvals=approvals)
    return Prepared(text, snapshot, current, plan, rollback_of, sig_bytes)


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
        signatures=signatures_text(prepared.signatures),
    )
    return store.append_revision(revision, prepared.expected)


def publish(
    store: Store,
    rules: str | os.PathLike[str] | RulesText,
    *,
    by: str = "",
    note: str = "",
    trust: TrustSource | None = None,
    signatures: str | os.PathLike[str] | None = None,
    running: Config | None = None,
) -> Revision:
    """Check ``rules`` (a path, or a ``RulesText``) as a following client would, and publish it as the
    store's new current revision, with its signature file (``signatures``, default ``FILE.sig``).

    With ``trust`` (a trust file), a widening change needs the trust file's threshold of valid signatures
    over the file's exact bytes, never the author's; the revision's ``approvers`` are those that counted.
    See ``prepare`` and ``commit`` for what is raised."""
    prepared = prepare(store, rules, trust=trust, signatures=signatures, running=running)
    return commit(store, prepared, by=by, note=note)


def history(store: Store, *, limit: int = 100) -> list[Revision]:
    """The published revisions, newest first (at most ``limit``)."""
    return store.revisions(limit)


def prepare_rollback(store: Store, *, to: int | None = None, trust: TrustSource | None = None) -> Prepared:
    """The roll-forward that publishes revision ``to``'s text again (default: the one before the current),
    with the signatures stored with it: under ``trust`` they count if they are still valid.

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
    trusted = trust_for(store, trust, "rollback")
    try:
        return _prepared(store, rules, target.data, target.signature_data, trusted, rollback_of=target_number)
    except ConfigError as exc:
        msg = f"revision {target_number} is not valid with this graylib, so it is not republished: {exc}"
        raise ValueError(msg) from exc


def rollback(
    store: Store,
    *,
    to: int | None = None,
    by: str = "",
    note: str = "",
    trust: TrustSource | None = None,
) -> Revision:
    """Publish an earlier revision's text as a new revision (a roll-forward; followers only go up).

    A rollback that only narrows exposure needs no approvals; one that widens needs them like any change
    (the old text's own approvals, as its plan shows; with ``trust``, the signatures stored with that
    revision, if they are still valid). Raises as ``prepare_rollback`` and ``commit`` do.
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
