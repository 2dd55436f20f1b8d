"""``graylib simulate CONFIG``: replay synthetic payments through a real client; what does a rule give away?

The run claims every payment against the rule exactly as a payment service would, on a simulated clock
(ten minutes of a busy platform take a second or two), and prints per minute: payments, discounts granted,
the amount given away, refusals by reason, and the moment any guardrail tripped. ``--compare NAIVE`` runs a
second config over the very same payments and prints the two losses side by side.

A config that ``graylib validate`` rejects only runs with ``--unsafe-skip-validation``, which lifts the
guardrail checks (and only those) and says so on stderr with every problem it skipped. The ``--compare``
baseline is always loaded that way, because its purpose is to show what an unguarded config would cost; it
is announced the same way.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, TextIO

from .._config import Config
from .._errors import ConfigError, StoreError
from .._load import load_config
from .._simulate._report import (
    PlotUnavailable,
    comparison_text,
    require_matplotlib,
    table_text,
    to_json,
    write_csv,
    write_png,
)
from .._simulate._run import Simulation, pick_rule, run_simulation
from .._simulate._traffic import TrafficModel, load_traffic
from .._simulate._unsafe import load_unchecked
from ..stores import MemoryStore, Store, store_from_url
from ..stores._url import sqlite_path
from ._output import emit_json, error
from ._store import STORE_URL_FORMS, scrub, shown_url

__all__ = ["register"]

_BAR = 30


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "simulate",
        help="replay synthetic payments through a rule and measure what it gives away",
        description=(
            "Drive synthetic payments (a mix of payment types, regions, clusters and nodes, skewed amounts, "
            "a ring of abusive accounts) through a real client and store on a simulated clock, and report "
            "per minute what the rule granted and refused and when a guardrail tripped."
        ),
    )
    parser.add_argument("config", metavar="CONFIG", help="rules file (TOML, JSON or YAML)")
    parser.add_argument("--rule", metavar="ID", help="rule to simulate (default: the config's only rule)")
    parser.add_argument("--minutes", type=_positive, default=10, help="simulated minutes (default 10)")
    parser.add_argument(
        "--payments-per-second", type=_positive, default=200, metavar="N", help="traffic rate (default 200)"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="traffic seed; same seed, same payments (default 1)"
    )
    parser.add_argument(
        "--store",
        default="memory://",
        metavar="URL",
        help=f"store for counters and kill switches: memory:// (default) or {STORE_URL_FORMS}; it must be "
        "fresh (a new SQLite file, an empty Redis database): a store in use is refused",
    )
    parser.add_argument(
        "--use-existing-store",
        action="store_true",
        help="simulate on a --store that is in use anyway: what it holds changes the result, and the run "
        "leaves its counters, grant statistics and any kill switch a rate alarm sets behind",
    )
    parser.add_argument(
        "--promote-every",
        type=_positive,
        metavar="MINUTES",
        help="advance the rule one stage at this interval, as an operator would (until killed or at its end)",
    )
    parser.add_argument("--traffic", metavar="FILE", help="traffic model (TOML or JSON); default: built in")
    parser.add_argument("--csv", metavar="FILE", help="write the per-minute table as CSV")
    parser.add_argument(
        "--plot", metavar="FILE", help="write a PNG chart of spend over time (needs matplotlib)"
    )
    parser.add_argument(
        "--compare",
        metavar="NAIVE",
        help="also run this config over the same payments (guardrail checks lifted, on its own memory "
        "store) and print both losses side by side",
    )
    parser.add_argument(
        "--unsafe-skip-validation",
        action="store_true",
        help="run CONFIG even though validation rejects it (guardrail checks lifted; simulation only)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(handler=run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"must be a whole number of at least 1 (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return value


def _announce_unsafe(path: str, problems: tuple[str, ...], role: str) -> None:
    noun = "problem" if len(problems) == 1 else "problems"
    print(
        f"graylib: UNSAFE: {role} {path} is not valid ({len(problems)} {noun}); guardrail checks lifted "
        "for this simulation only. graylib would refuse to serve it:",
        file=sys.stderr,
    )
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)


def _load(path: str, *, unsafe: bool, role: str) -> tuple[Config, tuple[str, ...]] | None:
    """The config to simulate and the problems skipped; None (after printing why) when it cannot run."""
    try:
        if not unsafe:
            return load_config(path), ()
        config, skipped = load_unchecked(path)
    except ConfigError as exc:
        noun = "problem" if len(exc.problems) == 1 else "problems"
        print(f"{path}: INVALID ({len(exc.problems)} {noun})")
        for problem in exc.problems:
            print(f"  - {problem}")
        if not unsafe:
            print(
                "graylib refuses to run an invalid config. To measure what it would cost anyway, add "
                "--unsafe-skip-validation (simulation only; nothing is served)."
            )
        return None
    if skipped:
        _announce_unsafe(path, skipped, role)
    return config, skipped


class _Progress:
    """A one-line progress bar on stderr, redrawn only when the percentage changes; silent off a TTY."""

    def __init__(self, label: str, out: TextIO) -> None:
        self.label = label
        self.out = out
        self.enabled = out.isatty()
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        pct = done * 100 // total
        if pct == self.shown:
            return
        self.shown = pct
        filled = _BAR * done // total
        bar = "#" * filled + "." * (_BAR - filled)
        self.out.write(f"\r{self.label} [{bar}] {pct:3d}%  minute {(done - 1) // 60 + 1}")
        if done == total:
            self.out.write("\r" + " " * (len(self.label) + _BAR + 20) + "\r")
        self.out.flush()


@contextmanager
def _quiet_library_log() -> Iterator[None]:
    """The run reports alarms itself; keep the library's log lines from breaking the progress bar."""
    logger = logging.getLogger("graylib")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _in_use(url: str, store: Store, config: Config, existed: bool) -> list[str]:
    """Why ``store`` is not fresh: an existing SQLite file, kill switches, grants of the config's rules."""
    reasons = [f"the file {sqlite_path(url)} exists (services may share it)"] if existed else []
    switches = sorted(store.kill_switches())
    if switches:
        reasons.append(f"it holds kill switches ({', '.join(switches)})")
    for rule in config.rules:
        stats = store.stats(rule.id)
        if stats.granted_count or stats.shadow_count:
            reasons.append(f"rule {rule.id!r} has grants counted in it")
    return reasons


def _open_store(args: argparse.Namespace, config: Config) -> Store | None:
    """The store to simulate on; None (after saying why) when it cannot be opened or is in use.

    A simulation claims real counters and can set kill switches (a rate alarm trips), so on a store that
    services share it would take their budget and stop their rules; and what a used store holds already
    changes the result. Only a fresh store is taken unless ``--use-existing-store`` says otherwise.
    """
    url, shown = args.store, shown_url(args.store)
    path = sqlite_path(url)
    existed = path is not None and os.path.exists(path)
    try:
        store = store_from_url(url)
    except Exception as exc:  # a bad URL, or a backend that cannot be opened
        error(scrub(str(exc), url))
        return None
    if isinstance(store, MemoryStore):
        return store
    try:
        reasons = _in_use(url, store, config, existed)
    except StoreError as exc:
        with suppress(StoreError):
            store.close()
        error(f"store unavailable: {scrub(str(exc), url)}")
        return None
    if not reasons:
        return store
    if args.use_existing_store:
        error(
            f"warning: simulating on {shown}, a store in use ({'; '.join(reasons)}): what it holds"
            " changes the result, and the run leaves its counters, grant statistics and any kill switch a"
            " rate alarm sets"
        )
        return store
    with suppress(StoreError):
        store.close()
    error(f"refusing to simulate on {shown}: {'; '.join(reasons)}")
    error(
        "a simulation claims real counters and may set kill switches (a rate alarm) in its store, and what a "
        "used store holds changes the result. Use a fresh store (a new SQLite path, an empty Redis database) "
        "or the default memory://; --use-existing-store runs anyway"
    )
    return None


def _simulate(
    args: argparse.Namespace, config: Config, skipped: tuple[str, ...], store: Store, traffic: TrafficModel
) -> Simulation:
    rule = pick_rule(config, args.rule)
    found = store.kill_switches().get(rule.id)
    if found is not None:
        error(f"warning: rule {rule.id!r} is already killed in this store ({found.reason})")
    return run_simulation(
        config,
        traffic=traffic,
        store=store,
        rule_id=rule.id,
        minutes=args.minutes,
        payments_per_second=args.payments_per_second,
        seed=args.seed,
        promote_every=args.promote_every,
        progress=_Progress(f"simulating {args.config}", sys.stderr),
        unsafe=skipped,
    )


def run(args: argparse.Namespace) -> int:
    if args.plot:
        try:
            require_matplotlib()
        except PlotUnavailable as exc:
            error(str(exc))
            return 2
    loaded = _load(args.config, unsafe=args.unsafe_skip_validation, role="config")
    if loaded is None:
        return 2
    baseline = None
    if args.compare:
        baseline = _load(args.compare, unsafe=True, role="comparison baseline")
        if baseline is None:
            return 2
    try:
        traffic = load_traffic(args.traffic)
    except ConfigError as exc:
        error(str(exc))
        return 2
    store = _open_store(args, loaded[0])
    if store is None:
        return 2
    try:
        with _quiet_library_log():
            sim = _simulate(args, *loaded, store, traffic)
            compare = None
            if baseline is not None:
                config, skipped = baseline
                rule_id = sim.rule_id if config.rule(sim.rule_id) is not None else None
                compare = run_simulation(
                    config,
                    traffic=traffic,
                    store=MemoryStore(),
                    rule_id=rule_id,
                    minutes=args.minutes,
                    payments_per_second=args.payments_per_second,
                    seed=args.seed,
                    progress=_Progress(f"simulating {args.compare}", sys.stderr),
                    unsafe=skipped,
                )
    except (ValueError, ConfigError, StoreError) as exc:
        error(scrub(str(exc), args.store))
        return 2
    finally:
        with suppress(StoreError):
            store.close()
    return _output(args, sim, compare)


def _output(args: argparse.Namespace, sim: Simulation, compare: Simulation | None) -> int:
    if args.json:
        emit_json(to_json(sim, compare))
    else:
        print(
            f"{args.config}: rule {sim.rule_id!r}, {args.minutes} simulated minutes at "
            f"{args.payments_per_second} payments/s, seed {args.seed}, store {shown_url(args.store)}"
            f"{' (UNSAFE: validation skipped)' if sim.unsafe else ''}"
        )
        print()
        print(table_text(sim))
        if compare is not None:
            print()
            print(f"same payments through {args.compare}:")
            print(comparison_text(sim, compare))
        print(f"\n(simulated in {sim.elapsed + (compare.elapsed if compare else 0):.1f}s)")
    try:
        if args.csv:
            with open(args.csv, "w", encoding="utf-8", newline="") as fh:
                write_csv(sim, fh, compare)
        if args.plot:
            write_png(sim, args.plot, compare)
    except OSError as exc:
        error(f"cannot write output: {exc}")
        return 2
    return 0
