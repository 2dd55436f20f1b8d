"""Background reload of a client's rules file: content hash, full checks, one atomic swap.

A ``Reloader`` belongs to one ``Client`` built with ``Client.from_file``. Each check reads the file, hashes
its text (so an edit that keeps the size and the modification time is still seen) and, when the hash
differs from the served snapshot's, runs everything a new config must pass before it goes live: parse,
validate, the smoke cases as this client's cluster and node, and the change policy against the running
config (``plan_change``). Only then is a snapshot compiled and swapped in by one reference assignment, so
an evaluation sees either the old snapshot or the new one, never a mix. On any failure the client keeps
serving the last good snapshot, ``on_reload_error`` is called once per bad version of the file and the error
is kept for ``Client.status()``.

The polling thread is a daemon started by the client (never at import). It holds only weak references, so
a client that is dropped without ``close()`` is still collected, and its thread ends. After ``os.fork()``
threads do not exist in the child: a fork hook starts a fresh thread there for every reloader that was
running (a pre-forking server's workers each reload on their own).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._compile import Snapshot, compile_config
from ._config import Config, format_of, parse_config, parse_text
from ._errors import ConfigError, PolicyError
from ._policy import plan_change
from ._smoke import check_smoke
from ._status import prepare_tallies

if TYPE_CHECKING:
    from ._client import Client
    from .stores import Store

__all__ = ["ReloadErrorHook", "ReloadHook", "Reloader", "open_from_file"]

log = logging.getLogger("graylib")

ReloadHook = Callable[[Snapshot], object]
ReloadErrorHook = Callable[[Exception], object]

_LIVE: weakref.WeakSet[Reloader] = weakref.WeakSet()
"""Reloaders whose thread must be restarted in a forked child."""
_JOIN_TIMEOUT = 5.0
_SETTLE_PAUSE = 0.05
"""Seconds between the two reads of a changed file in ``reload_now`` (see ``Reloader.check``)."""
_SETTLE_TRIES = 20


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read file: {exc}"], source=path) from exc


def _look(path: str) -> tuple[str, str | None, ConfigError | None]:
    """(a key for what the file holds now, its text, why it cannot be read): the key is the text's digest,
    or the read error's text, so that an unchanged state of the file is recognised either way."""
    try:
        text = _read(path)
    except ConfigError as exc:
        return f"unreadable:{exc}", None, exc
    return _digest(text), text, None


def _settle(path: str, key: str) -> tuple[str, str | None, ConfigError | None] | None:
    """Read the file again after a short pause until two reads agree; None when it keeps changing."""
    for _ in range(_SETTLE_TRIES):
        time.sleep(_SETTLE_PAUSE)
        again = _look(path)
        if again[0] == key:
            return again
        key = again[0]
    return None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a config is built.

    Building 1,000 rules allocates about 100,000 tracked objects and, with the collector on, triggers full
    collections that walk everything the whole process holds: in a payment service with a large heap that
    costs more than the reload itself. Compiled snapshots hold no reference cycles, and any cycle a build
    leaves behind is collected once the collector resumes; it stays off if the application had turned it
    off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse(text: str, fmt_path: str, source: str, cluster: str, node: str) -> Config:
    """Parse and validate config text, then run its smoke cases as ``cluster``/``node``."""
    config = parse_config(parse_text(text, format_of(fmt_path), source=source), source=source)
    failures = check_smoke(config, cluster=cluster, node=node)
    if failures:
        raise ConfigError([f"smoke case {f}" for f in failures], source=source)
    return config


def _call_hook(name: str, hook: Callable[[Any], object] | None, arg: object) -> None:
    if hook is None:
        return
    try:
        hook(arg)
    except Exception:  # a hook's fault must never stop reloading or serving
        log.exception("graylib %s hook raised; ignored", name)


def _stop_reloader(ref: weakref.ref[Reloader]) -> None:
    reloader = ref()
    if reloader is not None:
        reloader.stop(join=False)


class Reloader:
    """Watches one rules file for one client and swaps the client's snapshot when a new version passes."""

    def __init__(
        self,
        client: Client,
        path: str,
        *,
        interval: float | None,
        on_reload: ReloadHook | None,
        on_reload_error: ReloadErrorHook | None,
        last_good_path: str | None,
    ) -> None:
        if interval is not None and not interval > 0:
            msg = f"reload_interval must be a positive number of seconds or None (got {interval!r})"
            raise ValueError(msg)
        self._client = weakref.ref(client)
        self.path = path
        self.interval = interval
        self.on_reload = on_reload
        self.on_reload_error = on_reload_error
        self.last_good_path = last_good_path
        self.served_from = "source"
        self.reloads = 0
        self.last_reload_at: float | None = None
        self.last_error = ""
        self.last_error_at: float | None = None
        self._failed_digest = ""
        self._pending = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        weakref.finalize(client, _stop_reloader, weakref.ref(self))

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
        """Read the file and swap in its config when it changed and passes every check.

        True when the file's current content is what the client serves after the call (just swapped in, or
        unchanged); False when it could not be read or was refused (the error is recorded and reported), or
        is still being written. A version already refused is not reported again unless ``force`` is set.

        A file written in place can be read half-written, and half a file can even be valid (a TOML file
        cut after a rule is a config without the rules after it). So a changed file is taken only once it
        reads the same twice: the poll takes it at its second sighting, one interval later; ``force``
        reads it again after a short pause. A file replaced atomically (rename, symlink swap) reads whole.
        """
        with self._lock:
            client = self._client()
            if client is None or self._closed:
                return False
            key, text, error = _look(self.path)
            if key == client.snapshot.digest:
                return self._source_is_served()
            if force:
                settled = _settle(self.path, key)
                if settled is None:
                    self.record_error(ConfigError(["kept changing while being read; retried later"]))
                    log.warning("graylib reload of %s: the file kept changing while read", self.path)
                    return False
                key, text, error = settled
                if key == client.snapshot.digest:
                    return self._source_is_served()
            elif key == self._failed_digest:
                return False
            elif key != self._pending:
                self._pending = key  # first sighting: maybe half-written; taken if the next read agrees
                return False
            self._pending = ""
            if error is not None:
                return self._failed(error, key, force)
            assert text is not None
            try:
                snapshot = self._build(client, text, key)
            except Exception as exc:  # every failure keeps the running snapshot
                return self._failed(exc, key, force)
            if self._closed:  # close() ran while this version was being checked: swap nothing
                return False
            prepare_tallies(client._tallies, snapshot.rules)
            client._snapshot = snapshot  # the one atomic swap
            self._failed_digest = ""
            self.served_from = "source"
            self.reloads += 1
            self.last_reload_at = time.time()
            log.info("graylib reloaded %s: version %s", self.path, snapshot.version)
            self.save_last_good(text)
        _call_hook("on_reload", self.on_reload, snapshot)
        return True

    def _source_is_served(self) -> bool:
        """The file holds what is served. After a refused version (or a start from the last good copy) that
        is a recovery: the file was put back, so the error no longer describes the source, and the status
        turns healthy as after a reload."""
        self._pending = ""
        if self._failed_digest or self.served_from != "source":
            self._failed_digest = ""
            self.served_from = "source"
            self.last_reload_at = time.time()
        return True

    def _build(self, client: Client, text: str, digest: str) -> Snapshot:
        with collector_paused():
            config = _parse(text, self.path, self.path, client.cluster, client.node)
            plan = plan_change(client.config, config)
            if not plan.allowed:
                raise PolicyError(str(v) for v in plan.violations)
            for warning in plan.warnings:
                log.warning("graylib reload of %s: %s", self.path, warning)
            return compile_config(config, cluster=client.cluster, node=client.node, digest=digest)

    def _failed(self, exc: Exception, digest: str, force: bool) -> bool:
        repeated = digest == self._failed_digest
        self._failed_digest = digest
        if repeated and not force:
            return False
        self.record_error(exc)
        log.warning("graylib kept serving the last good config; reload of %s failed: %s", self.path, exc)
        _call_hook("on_reload_error", self.on_reload_error, exc)
        return False

    def view(self, client: Client) -> tuple[Snapshot, dict[str, Any]]:
        """The served snapshot and this reloader's counters, read together under the check's lock.

        A status must not mix a check's before and after (the new version with the old reload count, an
        error's text with the previous error's time); a check in progress is waited for.
        """
        with self._lock:
            return client.snapshot, {
                "source": self.path,
                "served_from": self.served_from,
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
        """Write the served config's text to ``last_good_path`` atomically (a temporary file, then rename)."""
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


def _poll(ref: weakref.ref[Reloader], stop: threading.Event, interval: float) -> None:
    """The thread's body: holds the reloader only while checking, so a dropped client is collected."""
    while not stop.wait(interval):
        reloader = ref()
        if reloader is None:
            return
        try:
            reloader.check()
        except Exception:  # never let the thread die silently
            log.exception("graylib reload check failed unexpectedly")
        del reloader


def _restart_in_child() -> None:
    for reloader in list(_LIVE):
        reloader.after_fork_in_child()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_restart_in_child)


def _last_good_config(
    last_good: str | None, source: str, cluster: str, node: str
) -> tuple[Config, str] | ConfigError | None:
    """The last good copy as (config, text); its error when it exists but cannot be served; None if absent."""
    if last_good is None or not os.path.exists(last_good):
        return None
    try:
        text = _read(last_good)
        config = _parse(text, source, f"{last_good} (last good copy of {source})", cluster, node)
    except ConfigError as exc:
        return exc
    return config, text


def open_from_file(
    cls: type[Client],
    path: str | os.PathLike[str],
    *,
    cluster: str,
    node: str,
    store: Store | None,
    reload_interval: float | None,
    on_reload: ReloadHook | None,
    on_reload_error: ReloadErrorHook | None,
    last_good_path: str | os.PathLike[str] | None,
    options: dict[str, Any],
) -> Client:
    """Build a client from a rules file, checked against the last good copy, and start its reloader.

    With a valid last good copy the source must pass the change policy against it, exactly as a reload
    would: a restart must not skip rollout steps that a running process would have refused. When the
    source is broken or refused, the last good copy is served and the reason goes to status and to
    ``on_reload_error``. When the last good copy exists but cannot be served (unreadable, invalid, or its
    smoke cases fail here), there is nothing to check against: a valid source is served, the unchecked
    start is reported the same way, and the copy is replaced by the source. A broken source with no usable
    copy raises the source's ``ConfigError``.
    """
    source = os.fspath(path)
    last_good = os.fspath(last_good_path) if last_good_path is not None else None
    good = _last_good_config(last_good, source, cluster, node)
    refused: Exception | None = None  # why the last good copy is served instead of the source
    unchecked: ConfigError | None = None  # why the source is served without a change check
    try:
        client = cls(source, cluster=cluster, node=node, store=store, **options)
    except ConfigError as exc:
        if not isinstance(good, tuple):
            raise
        refused = exc
    else:
        if isinstance(good, tuple):
            plan = plan_change(good[0], client.config)
            if not plan.allowed:
                refused = PolicyError(
                    f"{v} (start-up config checked against the last good copy {last_good})"
                    for v in plan.violations
                )
                client.close()
        elif good is not None:
            unchecked = good
    if refused is not None:
        assert isinstance(good, tuple)
        config, text = good
        client = cls(config, cluster=cluster, node=node, store=store, **options)
        client._snapshot = compile_config(config, cluster=cluster, node=node, digest=_digest(text))
    reloader = Reloader(
        client,
        source,
        interval=reload_interval,
        on_reload=on_reload,
        on_reload_error=on_reload_error,
        last_good_path=last_good,
    )
    client._reloader = reloader
    if refused is not None:
        reloader.served_from = "last_good"
        reloader._failed_digest = _look(source)[0]  # the poll reports the source again only once changed
        reloader.record_error(refused)
        log.warning("graylib serves the last good copy %s instead of %s: %s", last_good, source, refused)
        _call_hook("on_reload_error", on_reload_error, refused)
    elif last_good is not None:
        if unchecked is not None:
            reloader.record_error(unchecked)
            log.warning(
                "graylib serves %s without a change check: the last good copy is unusable: %s",
                source,
                unchecked,
            )
            _call_hook("on_reload_error", on_reload_error, unchecked)
        with contextlib.suppress(ConfigError):
            served = _read(source)
            if _digest(served) == client.snapshot.digest:  # unchanged since the client loaded it
                reloader.save_last_good(served)
    reloader.start()
    return client
