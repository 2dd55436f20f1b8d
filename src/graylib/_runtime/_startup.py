"""What a client serves at start-up (its rules source, or the last good copy of it), and the change check.

``start_from`` reads the source and the last good copy kept at ``last_good_path`` (if any), builds both,
and decides which to serve; ``Follower.begin`` then records and reports how the start went. ``changed`` is
the change policy both apply: a new version replaces a running one only when ``plan_change`` allows it.

With a trust file (``trust``), approvals are the valid signatures the source gave with the version (beside
a rules file, stored with a published revision: ``approvals_for``):
a widening change needs the trust file's threshold of them. A start with no usable last good copy has
nothing to compare with, so the source must then carry that threshold whatever it changes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import attrs

from .._compile import Snapshot
from .._errors import ConfigError, PolicyError, StoreError
from .._load import RulesText
from .._policy import SignedApprovals, missing_signatures, plan_change, signed_approvals
from .._trust import Trust
from ._anchor import vouched
from ._source import Sighting, Source

__all__ = ["Startup", "approvals_for", "changed", "start_from"]

log = logging.getLogger("graylib")

Build = Callable[[RulesText], Snapshot]


def approvals_for(snapshot: Snapshot, sighting: Sighting, trust: Trust | None) -> SignedApprovals | None:
    """The signed approvals of the version ``sighting`` saw (built as ``snapshot``); None without a trust
    file. A source that gave no exact bytes has no signature that can count."""
    if trust is None:
        return None
    return signed_approvals(snapshot.config, sighting.data or b"", sighting.signatures, trust)


def changed(
    running: Snapshot,
    snapshot: Snapshot,
    what: str,
    *,
    suffix: str = "",
    approvals: SignedApprovals | None = None,
) -> Snapshot:
    """``snapshot`` when the change policy lets it replace ``running``; else ``PolicyError`` (each violation
    followed by ``suffix``). The policy's warnings are logged as about ``what``. With ``approvals`` only
    valid signatures approve a widening change."""
    plan = plan_change(running.config, snapshot.config, approvals=approvals)
    if not plan.allowed:
        raise PolicyError(f"{v}{suffix}" for v in plan.violations)
    for warning in plan.warnings:
        log.warning("graylib %s: %s", what, warning)
    return snapshot


@attrs.frozen
class Startup:
    """What to serve at start-up, and why it is not simply the source (see ``start_from``)."""

    snapshot: Snapshot
    source_key: str
    source_text: str | None = None
    """The source's text when the source is served (kept as the new last good copy)."""
    refused: Exception | None = None
    """Why the last good copy is served instead of the source."""
    unchecked: ConfigError | None = None
    """Why the source is served without a change check (the last good copy is unusable)."""
    revision: int | None = None
    """The served revision's number, when the source is served and numbers its versions (a store)."""
    approved: Sighting | None = None
    """The source as read, when it is served and carries the trust file's threshold of signatures (kept as
    the approved anchor of the last good copy: ``_anchor``)."""


def start_from(
    source: Source, build: Build, last_good_path: str | None, *, trust: Trust | None = None
) -> Startup:
    """The snapshot to serve at start-up, checked against the last good copy at ``last_good_path``.

    With a valid last good copy the source must pass the change policy against it, exactly as a reload
    would: a restart must not skip rollout steps that a running process would have refused. When the
    source is broken, unreachable (a store: ``StoreError``) or refused, the last good copy is served and the
    reason is given. When the copy exists but cannot be served (unreadable, invalid, or its smoke cases
    fail here), there is nothing to check against: a valid source is served and the unchecked start is
    reported. A broken source with no usable copy raises the source's ``ConfigError`` (or ``StoreError``).
    With ``trust``, approvals are signatures; a source started with no usable copy must carry the trust
    file's threshold of them, else ``PolicyError``.
    """
    good = _last_good(source, build, last_good_path, trust)
    sighting = source.look()
    try:
        if sighting.error is not None:
            raise sighting.error
        assert sighting.rules is not None
        snapshot = build(sighting.rules)
    except (ConfigError, StoreError) as exc:
        if not isinstance(good, Snapshot):
            raise
        return Startup(good, sighting.attempt, refused=exc)
    approvals = approvals_for(snapshot, sighting, trust)
    if isinstance(good, Snapshot):
        try:
            suffix = f" (start-up config checked against the last good copy {last_good_path})"
            changed(good, snapshot, f"start from {source.name}", suffix=suffix, approvals=approvals)
        except PolicyError as exc:
            return Startup(good, sighting.attempt, refused=exc)
    elif approvals is not None:
        missing = missing_signatures(approvals)
        if missing is not None:
            why = f"unusable: {good}" if isinstance(good, ConfigError) else "none"
            msg = f"{source.name}: {missing} (there is no last good copy to check it against: {why})"
            raise PolicyError([msg])
    unchecked = good if isinstance(good, ConfigError) else None
    approved = sighting if approvals is not None and missing_signatures(approvals) is None else None
    return Startup(
        snapshot,
        sighting.attempt,
        source_text=sighting.rules.text,
        unchecked=unchecked,
        revision=sighting.revision,
        approved=approved,
    )


def _last_good(
    source: Source, build: Build, path: str | None, trust: Trust | None
) -> Snapshot | ConfigError | None:
    """The last good copy built; its error when it exists but cannot be served; None when there is none.

    With ``trust`` the copy must also be vouched for by its approved anchor (``_anchor``)."""
    if path is None or not os.path.exists(path):
        return None
    try:
        text = source.read_copy(path)
        good = build(attrs.evolve(text, name=f"{path} (last good copy of {source.name})"))
    except ConfigError as exc:
        return exc
    return vouched(good, path, text.format, build, trust) if trust is not None else good
