"""OpenTelemetry metrics of graylib clients (needs the ``otel`` extra: the OpenTelemetry API only).

Pass a ``Metrics`` to a client and it reports through the meter provider you configured (the SDK and its
exporters are the application's choice)::

    from graylib.otel import Metrics

    client = graylib.Client.from_file("rules.toml", store=store, metrics=Metrics())

=============================  ==========================  ==================================================
instrument                     attributes                  what it counts
=============================  ==========================  ==================================================
``graylib.decisions``          ``rule``, ``reason``,       decisions (``op="evaluate"``) and claims' final
(counter)                      ``op``                      answers (``op="claim"``), by graylib reason
``graylib.granted``            ``rule``                    minor units granted by real (not shadow) claims
(counter, minor units)
``graylib.store.errors``       ``op``                      store calls that failed: ``claim``, ``release``,
(counter)                                                  ``kill_switches``, ``kill``, ``revive``
``graylib.claim.duration``     ``store``                   seconds one claim's store call took (the store's
(histogram, s)                                             class name: ``RedisStore``...)
``graylib.config.loaded_at``   none                        when the served config version was loaded
(gauge, s since the epoch)                                 (it moves exactly when a new version is served)
=============================  ==========================  ==================================================

No account, payment id, IP, amount or other value of one payment is ever an attribute: the rule ids and
reasons come from the config and from ``graylib.Reason``, so the number of series is bounded by the config.

What it costs: decisions are not reported per payment. The counters the client keeps for ``status()``
anyway are read when the metrics are collected (observable counters), so ``evaluate`` costs the same with
metrics on as off. Grants and store errors are summed here under a lock and read at collection too. A
claim that reaches the store pays two clock reads, one histogram record (the SDK's) and, when granted,
one locked addition (docs/performance.md has the numbers). A client built without ``metrics`` has
none of this on its paths.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation

from ._runtime._metered import Reading, nonzero
from ._version import __version__

__all__ = ["Metrics"]

_Read = Callable[[], "Reading | None"]


class Metrics:
    """The OpenTelemetry instruments of one or more graylib clients (see the module docstring).

    ``meter_provider`` defaults to the global one (``opentelemetry.metrics.get_meter_provider()``). Several
    clients may share one ``Metrics``: their counts are added up per rule and reason.
    """

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        provider = meter_provider if meter_provider is not None else otel_metrics.get_meter_provider()
        meter: Meter = provider.get_meter("graylib", __version__)
        self._lock = threading.Lock()
        self._reads: list[_Read] = []
        self._granted: dict[str, int] = {}
        self._store_errors: dict[str, int] = {}
        meter.create_observable_counter(
            "graylib.granted",
            callbacks=[self._granted_amounts],
            unit="{minor_unit}",
            description="Minor units granted by real claims",
        )
        meter.create_observable_counter(
            "graylib.store.errors",
            callbacks=[self._errors],
            unit="{error}",
            description="Store calls that failed",
        )
        self._duration = meter.create_histogram(
            "graylib.claim.duration", unit="s", description="Duration of a claim's store call"
        )
        meter.create_observable_counter(
            "graylib.decisions",
            callbacks=[self._decisions],
            unit="{decision}",
            description="Decisions by rule, reason and operation (evaluate or claim)",
        )
        meter.create_observable_gauge(
            "graylib.config.loaded_at",
            callbacks=[self._loaded_at],
            unit="s",
            description="When the served config version was loaded (seconds since the epoch)",
        )
        self._store_attributes: dict[str, dict[str, Any]] = {}

    # -- what clients call (graylib._runtime._metered.Recorder) -------------------------------------------

    def watch(self, read: _Read) -> None:
        """Read a client's counts at every collection (done by ``Client(metrics=...)``)."""
        with self._lock:
            self._reads.append(read)

    def claim_duration(self, store: str, seconds: float) -> None:
        attributes = self._store_attributes.get(store)
        if attributes is None:
            attributes = self._store_attributes.setdefault(store, {"store": store})
        self._duration.record(seconds, attributes)

    def store_error(self, op: str) -> None:
        with self._lock:
            self._store_errors[op] = self._store_errors.get(op, 0) + 1

    def granted(self, rule_id: str, amount: int) -> None:
        with self._lock:  # a sum kept here and reported at collection: cheaper than a counter's add
            self._granted[rule_id] = self._granted.get(rule_id, 0) + amount

    # -- collection ---------------------------------------------------------------------------------------

    def _readings(self) -> list[Reading]:
        """Every live client's reading; clients that were collected are forgotten."""
        with self._lock:
            reads = list(self._reads)
        readings: list[Reading] = []
        gone: list[_Read] = []
        for read in reads:
            reading = read()
            if reading is None:
                gone.append(read)
            else:
                readings.append(reading)
        if gone:
            with self._lock:
                self._reads = [read for read in self._reads if read not in gone]
        return readings

    def _decisions(self, options: CallbackOptions) -> Iterable[Observation]:
        totals: dict[tuple[str, str, str], int] = {}
        for reading in self._readings():
            for op, tallies in (("evaluate", reading.evaluations), ("claim", reading.claims)):
                for rule_id, reason, count in nonzero(tallies):
                    key = (rule_id, reason, op)
                    totals[key] = totals.get(key, 0) + count
        return [
            Observation(count, {"rule": rule_id, "reason": reason, "op": op})
            for (rule_id, reason, op), count in totals.items()
        ]

    def _granted_amounts(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            totals = list(self._granted.items())
        return [Observation(amount, {"rule": rule_id}) for rule_id, amount in totals]

    def _errors(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            totals = list(self._store_errors.items())
        return [Observation(count, {"op": op}) for op, count in totals]

    def _loaded_at(self, options: CallbackOptions) -> Iterable[Observation]:
        readings = self._readings()
        if not readings:
            return []
        return [Observation(max(reading.loaded_at for reading in readings))]
