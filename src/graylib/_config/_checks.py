"""Small typed readers that check one value and record a problem with its path instead of raising.

Validation never stops at the first problem: each reader returns ``None`` (or a safe default) after
recording what was wrong, so one pass over a file reports everything an operator has to fix.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import math
import re
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from .._values import MAX_MONEY
from ._time import FORMS, parse_datetime

__all__ = ["MAX_MONEY", "Problems", "describe"]
# Whole-value patterns are matched with ``fullmatch``: ``$`` also matches before a trailing newline.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_WINDOW = re.compile(r"([1-9][0-9]*)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_WINDOW = 366 * 86400


def describe(value: Any) -> str:
    """How a found value is shown in a message: its repr, shortened, with its type when that helps."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return text


class Problems:
    """Collects ``"path: message"`` lines."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")

    def __bool__(self) -> bool:
        return bool(self.items)

    # -- structure ---------------------------------------------------------------------------------------

    def table(self, path: str, value: Any) -> Mapping[str, Any] | None:
        if isinstance(value, Mapping):
            return value
        self.add(path, f"must be a table (got {describe(value)})")
        return None

    def keys(
        self,
        path: str,
        table: Mapping[str, Any],
        allowed: Iterable[str],
        required: Iterable[str] = (),
    ) -> None:
        """Unknown keys are errors (a typo must never be ignored silently); required keys must be there."""
        known = list(allowed)
        for key in table:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of {', '.join(known)}"
                self.add(join(path, str(key)), f"unknown key{hint}")
        for key in required:
            if key not in table:
                self.add(join(path, key), "required")

    # -- scalars -----------------------------------------------------------------------------------------

    def string(self, path: str, value: Any, *, nonempty: bool = True) -> str | None:
        if not isinstance(value, str):
            self.add(path, f"must be a string (got {describe(value)})")
            return None
        if nonempty and not value.strip():
            self.add(path, "must not be empty")
            return None
        return value

    def boolean(self, path: str, value: Any) -> bool | None:
        if not isinstance(value, bool):
            self.add(path, f"must be true or false (got {describe(value)})")
            return None
        return value

    def integer(self, path: str, value: Any, *, minimum: int | None = None, what: str = "") -> int | None:
        """An integer (money is always integer minor units: 100.0 is refused, not rounded)."""
        if isinstance(value, bool) or not isinstance(value, int):
            kind = what or "an integer"
            self.add(path, f"must be {kind} (got {describe(value)})")
            return None
        if minimum is not None and value < minimum:
            self.add(path, f"must be at least {minimum} (got {value})")
            return None
        return value

    def money(self, path: str, value: Any, *, minimum: int = 0) -> int | None:
        """Minor units, at most ``MAX_MONEY``: every store (Redis counts in doubles) must count it exactly."""
        found = self.integer(path, value, minimum=minimum, what="an integer number of minor units")
        return self._at_most_max_exact(path, found)

    def count(self, path: str, value: Any, *, minimum: int = 0) -> int | None:
        """A number of payments, at most ``MAX_MONEY`` for the same reason as amounts."""
        return self._at_most_max_exact(path, self.integer(path, value, minimum=minimum))

    def _at_most_max_exact(self, path: str, found: int | None) -> int | None:
        if found is not None and found > MAX_MONEY:
            self.add(path, f"must be at most {MAX_MONEY} (2**53 - 1) (got {found})")
            return None
        return found

    def identifier(self, path: str, value: Any) -> str | None:
        """A rule id: it names keys in shared stores, CLI arguments and log lines, so it is kept plain."""
        text = self.string(path, value)
        if text is not None and not _IDENTIFIER.fullmatch(text):
            msg = (
                "must be 1-128 characters: letters, digits, '.', '_' or '-', starting with a letter or "
                f"digit (got {describe(text)})"
            )
            self.add(path, msg)
            return None
        return text

    def percent(
        self,
        path: str,
        value: Any,
        *,
        low: int = 0,
        high: int = 100,
        low_open: bool = False,
        per_million: bool = False,
    ) -> Fraction | None:
        """A percentage as an exact fraction (floats are read through their shortest decimal form).

        ``per_million``: the value must be a whole number of parts per million (at most four decimals), the
        resolution of a rollout bucket, so that the threshold is exact in every implementation.
        """
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(path, f"must be a number between {low} and {high} (got {describe(value)})")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.add(path, f"must be a number between {low} and {high} (got {describe(value)})")
            return None
        exact = Fraction(str(value)) if isinstance(value, float) else Fraction(value)
        if exact < low or exact > high or (low_open and exact == low):
            lo = f"above {low}" if low_open else f"between {low} and {high}"
            msg = f"must be {lo} and at most {high}" if low_open else f"must be {lo}"
            self.add(path, f"{msg} (got {describe(value)})")
            return None
        if per_million and (exact * 10_000).denominator != 1:
            self.add(
                path, f"must have at most 4 decimals: rollouts move in parts per million (got {value!r})"
            )
            return None
        return exact

    def window(self, path: str, value: Any) -> int | None:
        """A window such as ``"30s"``, ``"5m"``, ``"1h"``, ``"1d"``, in seconds."""
        if not isinstance(value, str):
            self.add(path, f'must be a duration such as "30s", "5m", "1h" or "1d" (got {describe(value)})')
            return None
        match = _WINDOW.fullmatch(value.strip())
        if not match:
            self.add(path, f'must be a duration such as "30s", "5m", "1h" or "1d" (got {describe(value)})')
            return None
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        if seconds > _MAX_WINDOW:
            self.add(path, f"must be at most 366d (got {value!r})")
            return None
        return seconds

    def timestamp(self, path: str, value: Any) -> dt.datetime | None:
        """A date-time with a UTC offset: a TOML date-time, or RFC 3339 text (``_time``) in JSON and YAML."""
        if isinstance(value, str):
            try:
                value = parse_datetime(value)
            except ValueError:
                self.add(path, f"must be an RFC 3339 date-time, {FORMS} (got {describe(value)})")
                return None
        if not isinstance(value, dt.datetime):
            self.add(path, f"must be a date-time with a UTC offset (got {describe(value)})")
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            self.add(path, f"must include a UTC offset, e.g. +08:00 (got {value.isoformat()})")
            return None
        return value

    def strings(self, path: str, value: Any, *, nonempty: bool = False) -> list[str] | None:
        """A list of non-empty strings; duplicates are reported."""
        if not isinstance(value, list | tuple):
            self.add(path, f"must be a list of strings (got {describe(value)})")
            return None
        if nonempty and not value:
            self.add(path, "must not be empty")
            return None
        out: list[str] = []
        seen: set[str] = set()
        for i, item in enumerate(value):
            text = self.string(f"{path}[{i}]", item)
            if text is None:
                continue
            if text in seen:
                self.add(f"{path}[{i}]", f"duplicate {text!r}")
                continue
            seen.add(text)
            out.append(text)
        return out


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@functools.lru_cache(maxsize=4096)
def _segment(key: str) -> str:
    """How a key is appended to a path: ``.key``, or ``["odd key"]`` quoted (config keys repeat a lot)."""
    if _IDENT.fullmatch(key):
        return f".{key}"
    quoted = '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"[{quoted}]"


def join(path: str, key: str) -> str:
    """``rules[0]`` + ``discount`` -> ``rules[0].discount``; odd keys are quoted: ``targets["*"]``."""
    segment = _segment(key)
    if not path and segment[0] == ".":
        return key
    return path + segment
