"""Printing shared by the commands: plain text for people, JSON for tools."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

__all__ = ["emit_json", "error"]


def emit_json(data: Any, out: TextIO | None = None) -> None:
    json.dump(data, out or sys.stdout, indent=2, sort_keys=True, default=str)
    (out or sys.stdout).write("\n")


def error(message: str) -> None:
    print(f"graylib: {message}", file=sys.stderr)
