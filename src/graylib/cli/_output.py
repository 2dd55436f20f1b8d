"""Printing shared by the commands: plain text for people, JSON for tools."""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

__all__ = ["did_you_mean", "emit_json", "error"]


def emit_json(data: Any, out: TextIO | None = None) -> None:
    json.dump(data, out or sys.stdout, indent=2, sort_keys=True, default=str)
    (out or sys.stdout).write("\n")


def error(message: str) -> None:
    print(f"graylib: {message}", file=sys.stderr)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the ids of ``known`` closest to a mistyped ``name``; empty if none is."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=3, cutoff=0.6)
    if not close:
        return ""
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)"
