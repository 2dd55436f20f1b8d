"""Draw docs/images/rollout.png: which nodes the example rule reaches at each stage of its rollout plan.

Reads the rule's stages and the ``[traffic.clusters]`` section from examples/rules.toml through graylib, so
the picture follows the file. Each row is a stage, each square a node (named ``<cluster>-01``, ``-02``, ... as
the examples name them); the last block stands for every cluster the file does not list. The share of
payments a stage reaches is worked out from the traffic shares, as ``graylib plan`` estimates it.

    python docs/images/make_rollout.py [OUTPUT.png]     (needs matplotlib: pip install '.[plot]')
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Patch, Rectangle

import graylib

HERE = Path(__file__).resolve().parent
RULES = HERE.parent.parent / "examples" / "rules.toml"
RULE_ID = "appliance-subsidy"
OTHER = "other clusters"
COLOURS = {"off": "#d9d9d9", "part": "#f4a259", "all": "#2a7f62"}


def _colour(percent: Fraction | None) -> str:
    if not percent:
        return COLOURS["off"]
    return COLOURS["all"] if percent >= 100 else COLOURS["part"]


def draw(output: Path) -> None:
    """Write the picture to ``output``."""
    config = graylib.load_config(RULES)
    (rule,) = [r for r in config.rules if r.id == RULE_ID]
    rollout = rule.rollout
    assert rollout is not None, f"{RULE_ID} has no rollout plan"
    clusters = dict(config.traffic)
    other_share = 1.0 - sum(t.share for t in clusters.values())

    # x positions: one unit per node, a gap between clusters, a 4-unit block for the unlisted clusters.
    columns: list[tuple[str, str, float, float, float]] = []  # cluster, node, x, width, traffic share
    x = 0.0
    for name, traffic in clusters.items():
        for i in range(1, traffic.nodes + 1):
            columns.append((name, f"{name}-{i:02d}", x, 1.0, traffic.share / traffic.nodes))
            x += 1.0
        x += 1.5
    columns.append((OTHER, "", x, 4.0, other_share))
    width = x + 4.0

    stages = rollout.stages
    fig, ax = plt.subplots(figsize=(12, 0.62 * len(stages) + 1.6))
    for row, stage in enumerate(stages):
        y = len(stages) - 1 - row
        reached = 0.0
        runs: list[tuple[str, Fraction, float, float]] = []  # cluster, percent, left, right of partial runs
        for cluster, node, left, w, share in columns:
            percent = stage.percent_at("" if cluster == OTHER else cluster, node)
            ax.add_patch(Rectangle((left + 0.08, y + 0.15), w - 0.16, 0.7, color=_colour(percent), lw=0))
            reached += share * float(percent or 0) / 100
            if percent and percent < 100:
                if runs and runs[-1][:2] == (cluster, percent):
                    runs[-1] = (cluster, percent, runs[-1][2], left + w)
                else:
                    runs.append((cluster, percent, left, left + w))
        for _, percent, left, right in runs:
            ax.text((left + right) / 2, y + 0.5, f"{percent}%", ha="center", va="center", fontsize=8)
        live = "   \u2190 live now" if stage.name == rollout.stage else ""
        ax.text(
            -0.6,
            y + 0.5,
            stage.name,
            ha="right",
            va="center",
            fontsize=10,
            fontweight="bold" if live else "normal",
        )
        what = "allow-listed accounts only" if not stage.targets else f"{reached:.2%} of payments"
        ax.text(width + 0.6, y + 0.5, what + live, ha="left", va="center", fontsize=9)

    for name in [*clusters, OTHER]:
        cols = [(left, w) for cluster, _, left, w, _ in columns if cluster == name]
        middle = (cols[0][0] + cols[-1][0] + cols[-1][1]) / 2
        nodes = "" if name == OTHER else f" ({len(cols)} nodes, {clusters[name].share:.0%} of payments)"
        ax.text(middle, len(stages) + 0.15, name + nodes, ha="center", va="bottom", fontsize=9)

    ax.set_xlim(-9, width + 16)
    ax.set_ylim(-0.2, len(stages) + 0.8)
    ax.axis("off")
    ax.set_title(
        f"Rollout of '{RULE_ID}' in examples/rules.toml: one row per stage, one square per node", fontsize=11
    )
    ax.legend(
        handles=[
            Patch(color=COLOURS["all"], label="every account"),
            Patch(color=COLOURS["part"], label="a share of accounts (by bucket)"),
            Patch(color=COLOURS["off"], label="off (OUT_OF_STAGE)"),
        ],
        loc="lower center",
        bbox_to_anchor=(0.5, -0.14),
        ncol=3,
        frameon=False,
        fontsize=9,
    )
    fig.savefig(output, dpi=100, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    draw(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "rollout.png")
