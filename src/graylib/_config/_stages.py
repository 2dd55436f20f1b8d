"""Rollout plans may only widen: at every cluster and node, each stage exposes at least the one before."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

from ._model import Stage

__all__ = ["check_widening", "probe_points"]

_OTHER = "\x00other"  # a cluster or node that no target names: only "*" reaches it


def probe_points(stages: Sequence[Stage]) -> list[tuple[str, str]]:
    """Every (cluster, node) whose percentage can differ between stages: each named target, plus an unnamed
    node of each named cluster, plus an unnamed cluster."""
    points: set[tuple[str, str]] = {(_OTHER, _OTHER)}
    for stage in stages:
        for key in stage.targets:
            if key == "*":
                continue
            cluster, _, node = key.partition("/")
            points.add((cluster, _OTHER))
            if node:
                points.add((cluster, node))
    return sorted(points)


def label(cluster: str, node: str) -> str:
    if cluster == _OTHER:
        return "any other cluster"
    if node == _OTHER:
        return f"cluster {cluster!r} (nodes not named)"
    return f"node {cluster}/{node}"


def check_widening(stages: Sequence[Stage]) -> Iterator[str]:
    """Messages for each place where a stage exposes less than the stage before it."""
    points = probe_points(stages)
    for before, after in itertools.pairwise(stages):
        for cluster, node in points:
            was = before.percent_at(cluster, node) or 0
            now = after.percent_at(cluster, node) or 0
            if now < was:
                yield (
                    f"stage {after.name!r} narrows exposure at {label(cluster, node)} "
                    f"({float(was):g}% in {before.name!r} -> {float(now):g}%); stages must only widen"
                )
