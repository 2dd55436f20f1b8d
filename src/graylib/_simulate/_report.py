"""What a simulation measured, for people (a table), for tools (CSV, JSON) and as a chart (PNG).

Money is kept in integer minor units everywhere and only formatted as ``12,345.67`` for reading; the CSV and
JSON carry the integers. The chart needs matplotlib (the ``plot`` extra) and is the only part that does.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import os
from collections.abc import Sequence
from typing import Any, TextIO

from .._money import money
from .._values import Reason
from ._run import START, Minute, Simulation

__all__ = [
    "CSV_COLUMNS",
    "PlotUnavailable",
    "comparison_text",
    "money",
    "require_matplotlib",
    "table_text",
    "to_json",
    "write_csv",
    "write_png",
]

_REFUSALS = tuple(r.value for r in Reason if not r.value.startswith("APPLIES"))
CSV_COLUMNS = (
    "minute",
    "start_utc",
    "stage",
    "payments",
    "payment_amount",
    "grants",
    "granted_amount",
    "cumulative_granted",
    "refused",
    *(f"refused_{r.lower()}" for r in _REFUSALS),
    "events",
)
"""Columns of the per-minute CSV; money columns are integer minor units."""


def _share(part: int, whole: int) -> str:
    if not whole:
        return "n/a"
    pct = 100 * part / whole
    return f"{pct:.4f}%" if pct < 0.01 else f"{pct:.2f}%"


def _refusal_text(row: Minute) -> str:
    ranked = sorted(row.refusals.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{reason} {count:,}" for reason, count in ranked) or "-"


def table_text(sim: Simulation) -> str:
    """The per-minute table, the events with their simulated time, and the run's totals."""
    header = ("min", "stage", "payments", "grants", "granted", "refusals")
    rows = [
        (
            str(m.minute),
            m.stage,
            f"{m.payments:,}",
            f"{m.grants:,}",
            money(m.granted),
            _refusal_text(m) + ("  <- " + "; ".join(e.kind for e in m.events) if m.events else ""),
        )
        for m in sim.minutes
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    right = (True, False, True, True, True)

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=False)]
        return "  ".join([*parts, cells[-1]])

    out = [line(header), *(line(r) for r in rows), ""]
    if sim.events:
        out.append("events (simulated time since the start):")
        out.extend(f"  {e.clock}  {e.text}" for e in sim.events)
    else:
        out.append("events: no guardrail tripped")
    out.append("")
    out.append(
        f"total: {sim.payments:,} payments, {sim.grants:,} discounts granted, {money(sim.granted)} given away"
    )
    out.append(
        "the same discount with no guardrails (no cap, every payment, everywhere, no limits) would have "
        f"given away {money(sim.exposure)}; this run gave {_share(sim.granted, sim.exposure)} of that"
    )
    return "\n".join(out)


def comparison_text(guarded: Simulation, naive: Simulation) -> str:
    """Two runs over the same payments, side by side, and how the losses compare."""
    names = (os.path.basename(naive.source) or "naive", os.path.basename(guarded.source) or "config")

    def first_trip(sim: Simulation) -> str:
        trips = [e for e in sim.events if e.kind in ("rate_alarm", "killed", "limit")]
        return f"{trips[0].clock} {trips[0].kind}" if trips else "none"

    lines = [
        ("", *names),
        ("payments", f"{naive.payments:,}", f"{guarded.payments:,}"),
        ("discounts granted", f"{naive.grants:,}", f"{guarded.grants:,}"),
        ("discount given away", money(naive.granted), money(guarded.granted)),
        ("first guardrail tripped", first_trip(naive), first_trip(guarded)),
    ]
    widths = [max(len(row[i]) for row in lines) for i in range(3)]
    out = [f"{a.ljust(widths[0])}  {b.rjust(widths[1])}  {c.rjust(widths[2])}" for a, b, c in lines]
    ratio = f"1 : {naive.granted / guarded.granted:,.0f}" if guarded.granted else "nothing given away"
    out.append("")
    out.append(
        f"{names[1]} gave away {_share(guarded.granted, naive.granted)} of what {names[0]} did ({ratio}) "
        f"over the same {naive.payments:,} payments"
    )
    return "\n".join(out)


def _row_dict(row: Minute, cumulative: int) -> dict[str, Any]:
    start = dt.datetime.fromtimestamp(START + (row.minute - 1) * 60, tz=dt.timezone.utc)
    out: dict[str, Any] = {
        "minute": row.minute,
        "start_utc": start.isoformat().replace("+00:00", "Z"),
        "stage": row.stage,
        "payments": row.payments,
        "payment_amount": row.payment_amount,
        "grants": row.grants,
        "granted_amount": row.granted,
        "cumulative_granted": cumulative,
        "refused": row.refused,
    }
    for reason in _REFUSALS:
        out[f"refused_{reason.lower()}"] = row.refusals.get(reason, 0)
    out["events"] = "; ".join(f"{e.clock} {e.text}" for e in row.events)
    return out


def _rows(sim: Simulation) -> list[dict[str, Any]]:
    cumulative = 0
    rows = []
    for m in sim.minutes:
        cumulative += m.granted
        rows.append(_row_dict(m, cumulative))
    return rows


def write_csv(sim: Simulation, out: TextIO, compare: Simulation | None = None) -> None:
    """One row per simulated minute; with ``compare``, its granted amounts in two more columns."""
    columns = list(CSV_COLUMNS)
    if compare is not None:
        columns += ["compare_granted_amount", "compare_cumulative_granted"]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    other = _rows(compare) if compare is not None else []
    for i, row in enumerate(_rows(sim)):
        if compare is not None:
            row["compare_granted_amount"] = other[i]["granted_amount"] if i < len(other) else ""
            row["compare_cumulative_granted"] = other[i]["cumulative_granted"] if i < len(other) else ""
        writer.writerow(row)


def _summary(sim: Simulation) -> dict[str, Any]:
    return {
        "config": sim.source,
        "rule": sim.rule_id,
        "payments_per_second": sim.payments_per_second,
        "seed": sim.seed,
        "payments": sim.payments,
        "grants": sim.grants,
        "granted_amount": sim.granted,
        "refusals": dict(sorted(sim.refusals.items())),
        "unguarded_exposure": sim.exposure,
        "unsafe_skipped_problems": list(sim.unsafe),
        "elapsed_seconds": round(sim.elapsed, 3),
    }


def to_json(sim: Simulation, compare: Simulation | None = None) -> dict[str, Any]:
    """Everything the table shows, as data: per-minute rows, events, totals, and the comparison."""
    out: dict[str, Any] = {
        "summary": _summary(sim),
        "minutes": _rows(sim),
        "events": [{"second": e.second, "kind": e.kind, "text": e.text} for e in sim.events],
    }
    if compare is not None:
        out["compare"] = {
            "summary": _summary(compare),
            "events": [{"second": e.second, "kind": e.kind, "text": e.text} for e in compare.events],
            "granted_ratio": sim.granted / compare.granted if compare.granted else None,
        }
    return out


class PlotUnavailable(RuntimeError):
    """``--plot`` was asked for and matplotlib cannot be imported."""


def require_matplotlib() -> Any:
    """``matplotlib.pyplot`` on the headless Agg backend, or ``PlotUnavailable`` saying what to install."""
    try:
        matplotlib = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        return importlib.import_module("matplotlib.pyplot")
    except ImportError as exc:
        msg = "--plot needs matplotlib: pip install 'graylib[plot]'"
        raise PlotUnavailable(msg) from exc


def write_png(sim: Simulation, path: str | os.PathLike[str], compare: Simulation | None = None) -> None:
    """Discount given away per minute and in total, with the events marked; ``compare`` drawn beside it."""
    plt = require_matplotlib()
    fig, (per_minute, cumulative) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    runs = [(compare, "tab:red"), (sim, "tab:blue")] if compare is not None else [(sim, "tab:blue")]
    width = 0.8 / len(runs)
    for i, (run, color) in enumerate(runs):
        assert run is not None
        label = os.path.basename(run.source) or run.rule_id
        offset = -0.4 + width * (i + 0.5)
        per = [m.granted / 100 for m in run.minutes]
        per_minute.bar([m.minute - 0.5 + offset for m in run.minutes], per, width, color=color, label=label)
        total = 0.0
        cum = [0.0]
        for value in per:
            total += value
            cum.append(total)
        cumulative.plot(range(len(cum)), cum, marker="o", markersize=3, color=color, label=label)
        for event in run.events:
            if event.kind == "promoted":
                continue
            x = event.second / 60
            for ax in (per_minute, cumulative):
                ax.axvline(x, color=color, linestyle=":", linewidth=1)
            cumulative.annotate(
                f"{event.clock} {event.kind}",
                (x, 0),
                xytext=(3, 3),
                textcoords="offset points",
                rotation=90,
                fontsize=7,
                color=color,
                va="bottom",
            )
    if compare is not None:  # losses orders of magnitude apart: a log scale keeps both readable
        for ax in (per_minute, cumulative):
            ax.set_yscale("symlog", linthresh=1)
    for ax in (per_minute, cumulative):
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    per_minute.set_ylabel("discount given / minute")
    cumulative.set_ylabel("discount given, total")
    cumulative.set_xlabel("simulated minutes since the start")
    per_minute.set_title(f"graylib simulate: rule {sim.rule_id!r}, {sim.payments_per_second} payments/s")
    per_minute.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=110)
    plt.close(fig)
