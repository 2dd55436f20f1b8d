"""Testing your own code against graylib: a client from a few keyword arguments, and a clock you drive.

::

    from graylib.testing import Clock, make_client

    clock = Clock()
    client = make_client(amount_off=500, limits={"per_account": {"count": 1, "window": "1d"}}, clock=clock)
    ...
    clock.advance(86_400)   # a day later: the per-account window has rolled over

``make_client`` builds a real ``graylib.Client`` (the same checks, the same evaluation, the same claims)
over a fresh ``MemoryStore`` of its own, with no background thread (the kill switches are read on every
evaluation, which a ``MemoryStore`` answers at once), so a test sees a kill or a revive at once and leaves
nothing running. Given no ``config``, it writes one rule that applies to every account at this node, with
the keyword arguments as that rule's fields; given one, it serves it as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from ._aio_client import AsyncClient
from ._client import Client, ConfigSource
from ._compile import Snapshot
from .stores import MemoryStore, Store
from .stores.aio import AsyncMemoryStore, AsyncStore

__all__ = ["DEFAULT_RULE", "Clock", "make_async_client", "make_client", "rules_for"]

DEFAULT_RULE = "rule"
"""The id of the rule ``make_client`` writes when it is given no ``config``."""

_START = 1_767_225_600.0
"""2026-01-01T00:00:00Z: where a ``Clock`` starts unless told otherwise."""


class Clock:
    """A clock the test drives: ``clock()`` is the current time in seconds since the epoch (UTC).

    Pass it to ``make_client`` (or ``Client(clock=...)``): schedules, limit windows, record ages and kill
    times all go by it.
    """

    __slots__ = ("now",)

    def __init__(self, start: float | dt.datetime = _START) -> None:
        self.now = _seconds(start, "Clock(start)")

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (not backward: time in a store does not go back)."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
            msg = f"Clock.advance(seconds): must be a number of seconds >= 0 (got {seconds!r})"
            raise ValueError(msg)
        self.now += seconds
        return self.now

    def set(self, when: float | dt.datetime) -> float:
        """Set the clock to ``when`` (seconds since the epoch, or a datetime with a time zone)."""
        self.now = _seconds(when, "Clock.set(when)")
        return self.now

    def __repr__(self) -> str:
        return f"Clock({dt.datetime.fromtimestamp(self.now, dt.timezone.utc).isoformat()})"


def _seconds(when: float | dt.datetime, where: str) -> float:
    if isinstance(when, dt.datetime):
        if when.tzinfo is None:
            msg = f"{where}: a datetime needs a time zone (got {when!r})"
            raise ValueError(msg)
        return when.timestamp()
    if isinstance(when, bool) or not isinstance(when, int | float):
        msg = f"{where}: must be seconds since the epoch or a datetime (got {when!r})"
        raise TypeError(msg)
    return float(when)


def rules_for(
    *,
    rule_id: str = DEFAULT_RULE,
    payment_types: Sequence[str] = ("online_purchase",),
    amount_off: int | None = None,
    percent_off: int | None = None,
    max_off: int | None = None,
    limits: Mapping[str, Any] | None = None,
    state: str = "active",
    **rule: Any,
) -> dict[str, Any]:
    """The config ``make_client`` serves when given none: one rule, live for every account everywhere.

    ``amount_off`` (minor units) or ``percent_off`` with ``max_off`` is the discount (default: 100 minor
    units off); ``limits`` are the rule's limits as in the config format; any other keyword is a field of
    the rule (``regions``, ``min_amount``, ``deny``, ``allow``, ``starts_at``, ``ends_at``...).
    """
    if amount_off is not None and percent_off is not None:
        msg = "make_client: give amount_off or percent_off, not both"
        raise ValueError(msg)
    if percent_off is not None:
        discount: dict[str, Any] = {"percent": percent_off}
        if max_off is not None:
            discount["max_off"] = max_off
    else:
        discount = {"amount": 100 if amount_off is None else amount_off}
    body: dict[str, Any] = {
        "id": rule_id,
        "state": state,
        "payment_types": list(payment_types),
        "discount": discount,
        "rollout": {"stage": "everyone", "stages": [{"name": "everyone", "targets": {"*": 100}}]},
        **rule,
    }
    if limits:
        body["limits"] = dict(limits)
    return {
        "version": "test",
        "guardrails": {"max_percent_off": 100, "max_amount_off": 2**53 - 1, "forbidden_payment_types": []},
        "rules": [body],
    }


def _source(config: ConfigSource | Snapshot | None, rule: dict[str, Any]) -> ConfigSource | Snapshot:
    if config is not None and rule:
        given = ", ".join(sorted(rule))
        msg = f"make_client: rule keywords ({given}) build a rule; pass them or a config, not both"
        raise TypeError(msg)
    return config if config is not None else rules_for(**rule)


def make_async_client(
    config: ConfigSource | Snapshot | None = None,
    *,
    clock: Clock | None = None,
    store: AsyncStore | None = None,
    cluster: str = "",
    node: str = "",
    **rule: Any,
) -> AsyncClient:
    """``make_client`` for asyncio code: an ``AsyncClient`` on a fresh ``AsyncMemoryStore``.

    Start it before use, as any ``AsyncClient``: ``async with make_async_client(...) as client:``.
    """
    return AsyncClient(
        _source(config, rule),
        cluster=cluster,
        node=node,
        store=store if store is not None else AsyncMemoryStore(),
        clock=clock if clock is not None else Clock(),
    )


def make_client(
    config: ConfigSource | Snapshot | None = None,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    cluster: str = "",
    node: str = "",
    **rule: Any,
) -> Client:
    """A ``graylib.Client`` for a unit test: ``config`` as given, or one rule made of the keywords.

    The keywords without a ``config`` are ``rules_for``'s (``rule_id``, ``amount_off``, ``percent_off``,
    ``max_off``, ``limits``, ``payment_types``, ``state`` and any rule field). ``clock`` (default: a new
    ``Clock``) is what the client goes by; ``store`` defaults to a new ``MemoryStore`` of this client's.
    Call ``client.close()`` when done, or use it as a context manager.
    """
    return Client(
        _source(config, rule),
        cluster=cluster,
        node=node,
        store=store if store is not None else MemoryStore(),
        clock=clock if clock is not None else Clock(),
        kill_refresh=0,
    )
