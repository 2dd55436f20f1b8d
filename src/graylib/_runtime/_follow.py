"""Following a rules source: notice a new version, check it fully, hand it to ``swap``; or keep the last good.

A ``Follower`` knows a ``Source`` (where versions come from: a rules file, or a store's published
revision), a ``build`` callable (rules text -> checked snapshot for this client: ``_load.build``), the
``served`` snapshot and the ``swap`` that serves a new one. It knows no client. Each check looks at the
source; when its version differs from the served one it builds the new version and checks it against the
running config with the change policy (``plan_change``); only then does it call ``swap``. On any failure the
served snapshot stays, ``on_reload_error`` is called once per bad version and the error is kept for
``status()``.

What to serve at start-up (the source, or its last good copy) is decided by ``_startup.start_from``; the
follower records how the start went (``begin``) and follows from there.

The polling thread is a daemon started explicitly (never at import). It holds only weak references, and
the follower holds its owner's ``swap`` and ``served`` weakly too, so a client that is dropped without
``close()`` is still collected and the thread ends. After ``os.fork()`` threads do not exist in the child:
a fork hook starts a fresh thread there for every follower that was running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from .._compile import Snapshot
from .._errors import ConfigError, PolicyError
from .._load import RulesText, collector_paused
from .._policy import missing_signatures
from .._trust import Trust
from ._anchor import save_anchor
from ._source import Sighting, Source
from ._startup import Startup, approvals_for, changed
from ._store_trust import StoreTrust

__all__ = ["Follower", "ReloadErrorHook", "ReloadHook", "call_hook"]

log = logging.getLogger("graylib")

ReloadHook = Callable[[Snapshot], object]
ReloadErrorHook = Callable[[Exception], object]
Build = Callable[[RulesText], Snapshot]

_LIVE: weakref.WeakSet[Follower] = weakref.WeakSet()
"""Followers whose thread must be restarted in a forked child."""
_JOIN_TIMEOUT = 5.0
_SETTLE_PAUSE = 0.05
"""Seconds between the two looks at a changed source in a forced check (see ``Follower.check``)."""
_SETTLE_TRIES = 20


def _settle(source: Source, attempt: str) -> Sighting | None:
    """Look again after a short pause until two looks agree; None when the source keeps changing."""
    for _ in range(_SETTLE_TRIES):
        time.sleep(_SETTLE_PAUSE)
        again = source.look()
        if again.attempt == attempt:
            return again
        attempt = again.attempt
    return None


def call_hook(name: str, hook: Callable[[Any], object] | None, arg: object) -> None:
    """Call a user hook; its exceptions are logged, never raised."""
    if hook is None:
        return
    try:
        hook(arg)
    except Exception:  # a hook's fault must never stop reloading or serving
        log.exception("graylib %s hook raised; ignored", name)


def _weakly(method: Callable[..., Any]) -> Callable[[], Callable[..., Any] | None]:
    """A reference to a bound method that does not keep its owner alive (a plain function is kept)."""
    if hasattr(method, "__self__"):
        return weakref.WeakMethod(method)
    return lambda: method


def _stop(ref: weakref.ref[Follower]) -> None:
    follower = ref()
    if follower is not None:
        follower.stop(join=False)


class Follower:
    """Follows one source for one owner and swaps in each new version that passes every check."""

    def __init__(
        self,
        source: Source,
        *,
        build: Build,
        served: Callable[[], Snapshot],
        swap: Callable[[Snapshot], object],
        interval: float | None,
        on_reload: ReloadHook | None,
        on_reload_error: ReloadErrorHook | None,
        last_good_path: str | None,
        on_change: Callable[[object], object] | None = None,
        on_check: Callable[[], object] | None = None,
        trust: Trust | None = None,
    ) -> None:
        if interval is not None and not interval > 0:
            msg = f"reload_interval must be a positive number of seconds or None (got {interval!r})"
            raise ValueError(msg)
        self.source = source
        self.interval = interval
        self.on_reload = on_reload
        self.on_reload_error = on_reload_error
        self.last_good_path = last_good_path
        self.on_change = on_change
        """Told when a version is refused and when the source serves what runs again (``refusing``)."""
        self.on_check = on_check
        """Called after every poll (outside the check's lock): the fleet record is written from it."""
        self.trust = trust
        self.trust_view: StoreTrust | None = None
        """A trust file followed in the store (``trust="store"``): read before each look."""
        self._trust_problem = ""
        self._build = build
        self._served = _weakly(served)
        self._swap = _weakly(swap)
        self.served_from = "source"
        self.reloads = 0
        self.last_reload_at: float | None = None
        self.last_error = ""
        self.last_error_at: float | None = None
        self.served_revision: int | None = None
        """The number of the served revision, for a source that numbers them (a store); only higher numbers
        are accepted. None for a file, and after a start from a last good copy of unknown number."""
        self.last_read_at: float | None = None
        """When the source last answered with a version (a file read, a store's current number)."""
        self._failed_key = ""
        self._pending = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        owner = getattr(served, "__self__", None)
        if owner is not None:
            weakref.finalize(owner, _stop, weakref.ref(self))

    # -- start-up --------------------------------------------------------------------------------------

    def begin(self, startup: Startup) -> None:
        """Record how the start went (see ``start_from``), keep the last good copy, start polling."""
        if startup.refused is None:
            self.served_revision = startup.revision
            self.last_read_at = time.time()
        if startup.refused is not None:
            self.served_from = "last_good"
            self._failed_key = startup.source_key  # reported again only once the source changes
            self.record_error(startup.refused)
            log.warning(
                "graylib serves the last good copy %s instead of %s: %s",
                self.last_good_path,
                self.source.name,
                startup.refused,
            )
            call_hook("on_reload_error", self.on_reload_error, startup.refused)
        elif self.last_good_path is not None:
            if startup.unchecked is not None:
                self.record_error(startup.unchecked)
                log.warning(
                    "graylib serves %s without a change check: the last good copy is unusable: %s",
                    self.source.name,
                    startup.unchecked,
                )
                call_hook("on_reload_error", self.on_reload_error, startup.unchecked)
            if startup.source_text is not None:
                self.save_last_good(startup.source_text)
            if startup.approved is not None:
                save_anchor(self.last_good_path, startup.approved.data or b"", startup.approved.signatures)
        self.start()

    # -- the thread ------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Start polling every ``interval`` seconds (no-op without an interval, when closed or running)."""
        if self.interval is None or self._closed or self.running:
            return
        _LIVE.add(self)
        self._stop = threading.Event()
        thread = threading.Thread(
            target=_poll,
            args=(weakref.ref(self), self._stop, self.interval),
            name="graylib-reload",
            daemon=True,
        )
        self._thread = thread
        thread.start()

    def stop(self, *, join: bool = True) -> None:
        """Stop polling for good; wait for the thread unless called from it."""
        self._closed = True
        self._stop.set()
        _LIVE.discard(self)
        thread = self._thread
        if join and thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT)

    def after_fork_in_child(self) -> None:
        """Threads and lock owners do not survive a fork: fresh lock, fresh thread."""
        self._lock = threading.Lock()
        self._thread = None
        if not self._closed:
            self.start()

    # -- one check -------------------------------------------------------------------------------------

    def check(self, *, force: bool = False) -> bool:
        """Look at the source and swap in its new version when it changed and passes every check.

        True when the source's current version is what is served after the call (just swapped in, or
        unchanged); False when it could not be read or was refused (the error is recorded and reported), or
        is still being written. A version already refused is not reported again unless ``force`` is set.

        A file written in place can be read half-written, and half a file can even be valid (a TOML file
        cut after a rule is a config without the rules after it). So a changed version is taken only once
        two looks agree: the poll takes it at its second sighting, one interval later; ``force`` looks again
        after a short pause. A file replaced atomically (rename, symlink swap) reads whole.
        """
        with self._lock:
            served, swap = self._served(), self._swap()
            if served is None or swap is None or self._closed:
                return False
            running = served()
            if self.trust_view is not None:
                self._follow_trust(self.trust_view)
            sighting = self.source.look()
            if sighting.error is None or sighting.revision is not None:
                self.last_read_at = time.time()
            older = self._older(sighting)
            if older is not None:
                return self._failed(older, sighting.attempt, force)
            if sighting.key == running.digest:
                return self._source_is_served(sighting.revision)
            whole = getattr(self.source, "whole", False)
            if force and not whole:
                settled = _settle(self.source, sighting.attempt)
                if settled is None:
                    self.record_error(ConfigError(["kept changing while being read; retried later"]))
                    log.warning("graylib reload of %s: the source kept changing while read", self.source.name)
                    return False
                sighting = settled
                if sighting.key == running.digest:
                    return self._source_is_served(sighting.revision)
            elif sighting.attempt == self._failed_key and not force:
                return False
            elif sighting.attempt != self._pending and not whole:
                self._pending = sighting.attempt  # maybe half-written: taken if the next look agrees
                return False
            self._pending = ""
            try:
                if sighting.error is not None:
                    raise sighting.error
                assert sighting.rules is not None
                with collector_paused():  # the build and the policy check allocate a whole config
                    built = self._build(sighting.rules)
                    approvals = approvals_for(built, sighting, self.trust)
                    snapshot = changed(running, built, f"reload of {self.source.name}", approvals=approvals)
            except Exception as exc:  # every failure keeps the running snapshot
                return self._failed(exc, sighting.attempt, force)
            if self._closed:  # close() ran while this version was being checked: swap nothing
                return False
            swap(snapshot)
            self.served_revision = sighting.revision
            self._failed_key = ""
            self.served_from = "source"
            self.reloads += 1
            self.last_reload_at = time.time()
            log.info("graylib reloaded %s: version %s", self.source.name, snapshot.version)
            self.save_last_good(sighting.rules.text)
            if (
                self.last_good_path is not None
                and approvals is not None
                and missing_signatures(approvals) is None
            ):
                save_anchor(self.last_good_path, sighting.data or b"", sighting.signatures)
        call_hook("on_reload", self.on_reload, snapshot)
        return True

    def _follow_trust(self, view: StoreTrust) -> None:
        """Take the store's trust file in force; a rotation makes a refused revision worth another check."""
        changed, problem = view.refresh()
        self.trust = view.trust
        if changed:
            self._failed_key = ""
        if problem is not None and str(problem) != self._trust_problem:
            self._trust_problem = str(problem)
            self.record_error(problem)
            log.warning("graylib kept trust file version %s: %s", view.trust.version, problem)
            call_hook("on_reload_error", self.on_reload_error, problem)

    def _older(self, sighting: Sighting) -> PolicyError | None:
        """The refusal of a revision numbered below the served one (a store restored from an old backup, or
        emptied and published to again): a follower never goes back by number, only by a roll-forward."""
        number, served = sighting.revision, self.served_revision
        if number is None or served is None or number >= served:
            return None
        return PolicyError(
            [
                f"the current revision in {self.source.name} is {number}, older than the served revision"
                f" {served}: only higher revisions are accepted (a store restored from an old copy, or"
                " emptied?); roll back by publishing, never by lowering the number"
            ]
        )

    def _source_is_served(self, revision: int | None = None) -> bool:
        """The source holds what is served. After a refused version (or a start from the last good copy)
        that is a recovery: the source was put back, so the error no longer describes it, and the status
        turns healthy as after a reload. A higher revision with the served text (a republished text) is
        now the served revision."""
        if revision is not None:
            self.served_revision = revision
        self._pending = ""
        if self._failed_key or self.served_from != "source":
            self._failed_key = ""
            self.served_from = "source"
            self.last_reload_at = time.time()
            call_hook("on_change", self.on_change, None)
        return True

    @property
    def refusing(self) -> bool:
        """True while the source holds a version that was refused, or the last good copy is served."""
        return bool(self._failed_key) or self.served_from != "source"

    def _failed(self, exc: Exception, key: str, force: bool) -> bool:
        repeated = key == self._failed_key
        self._failed_key = key
        if repeated and not force:
            return False
        self.record_error(exc)
        log.warning(
            "graylib kept serving the last good config; reload of %s failed: %s", self.source.name, exc
        )
        call_hook("on_reload_error", self.on_reload_error, exc)
        call_hook("on_change", self.on_change, None)
        return False

    def view(self) -> tuple[Snapshot | None, dict[str, Any]]:
        """The served snapshot and this follower's counters, read together under the check's lock.

        A status must not mix a check's before and after (the new version with the old reload count, an
        error's text with the previous error's time); a check in progress is waited for.
        """
        with self._lock:
            served = self._served()
            return (served() if served is not None else None), {
                "source": self.source.name,
                "served_from": self.served_from,
                "revision": self.served_revision,
                "last_read_at": self.last_read_at,
                "last_read_age": None
                if self.last_read_at is None
                else max(time.time() - self.last_read_at, 0.0),
                "reloading": self.running,
                "reload_interval": self.interval,
                "reloads": self.reloads,
                "last_reload_at": self.last_reload_at,
                "last_reload_error": self.last_error,
                "last_reload_error_at": self.last_error_at,
            }

    def record_error(self, exc: Exception) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.last_error_at = time.time()

    def save_last_good(self, text: str) -> None:
        """Write the served version's text to ``last_good_path`` atomically (a temporary file, a rename)."""
        target = self.last_good_path
        if target is None:
            return
        tmp = f"{target}.tmp-{os.getpid()}-{threading.get_ident()}"
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            log.warning("graylib could not write the last good config to %s: %s", target, exc)
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _poll(ref: weakref.ref[Follower], stop: threading.Event, interval: float) -> None:
    """The thread's body: holds the follower only while checking, so a dropped client is collected."""
    while not stop.wait(interval):
        follower = ref()
        if follower is None:
            return
        try:
            follower.check()
        except Exception:  # never let the thread die silently
            log.exception("graylib reload check failed unexpectedly")
        on_check = follower.on_check
        if on_check is not None:
            try:
                on_check()
            except Exception:  # a failing fleet record must not stop the follower
                log.exception("graylib after-check hook failed unexpectedly")
        del follower


def _restart_in_child() -> None:
    for follower in list(_LIVE):
        follower.after_fork_in_child()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_restart_in_child)
