"""Bounds on a parsed document, checked before validation reads, hashes or prints any value in it.

A config arrives as text from a file or as a mapping from Python code. Before the validator looks at it, one
iterative walk refuses what would crash or stall the process later:

- text that is not text: a string (or key) holding a lone surrogate, such as JSON's ``"\\ud800"``, cannot be
  encoded as UTF-8; hashing it for bucketing crashes the interpreter, and printing it raises;
- integers of more than ``MAX_INTEGER_DIGITS`` digits (no config number goes past 2**53 - 1; ``int`` and
  ``repr`` refuse past 4,300 digits, and are slow well before);
- nesting deeper than ``MAX_DEPTH`` levels (a real config is six deep; recursion breaks near a thousand),
  which also catches a mapping that contains itself;
- more than ``MAX_VALUES`` values in all, counting a value reached twice (a YAML alias, a list shared in a
  Python mapping) each time it is reached: the validator walks what it is given, so this bounds its work;
- keys that a JSON or YAML reader saw twice in one table (marked by the readers with ``DuplicateKeys``).

Every problem names its path; the walk never recurses, so no document can raise ``RecursionError`` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._checks import join

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_CHARS",
    "MAX_INTEGER_DIGITS",
    "MAX_VALUES",
    "DuplicateKeys",
    "TooLongInteger",
    "check_document",
    "printable",
]

MAX_DOCUMENT_CHARS = 16 * 1024 * 1024
"""Largest document read, in characters (a file is read no further): 1,000 rules take about 0.6 MB."""
MAX_DEPTH = 32
"""Deepest nesting of tables and arrays; the deepest key of the format is six levels down."""
MAX_VALUES = 2_000_000
"""Most values (tables, arrays, scalars, keys not counted) in a document; 1,000 rules hold about 45,000."""
MAX_INTEGER_DIGITS = 100
"""Longest integer, in decimal digits; every number a config holds fits in 16."""
_MAX_INTEGER_BITS = int(MAX_INTEGER_DIGITS * 3.3219280948873626)  # log2(10)


class DuplicateKeys(dict[str, Any]):
    """A table in which the reader found a key more than once (the last value is kept, and refused)."""

    def __init__(self, pairs: list[tuple[str, Any]], duplicates: list[str]) -> None:
        super().__init__(pairs)
        self.duplicates = duplicates


class TooLongInteger:
    """Stands where a reader found an integer of more than ``MAX_INTEGER_DIGITS`` digits (never built)."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<integer of {self.digits} digits>"


def printable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX`` escapes, so a message holding it can print."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _text_problem(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        found = printable(text[exc.start : exc.start + 1])
        return (
            f"must be text (a lone surrogate {found} at character {exc.start} cannot be encoded as UTF-8; "
            "fix the \\u escape that produced it)"
        )
    return None


def _integer_problem(value: int | TooLongInteger) -> str | None:
    if isinstance(value, TooLongInteger):
        found = f"an integer of {value.digits} digits"
        return f"must be a number of at most {MAX_INTEGER_DIGITS} digits (got {found})"
    if value.bit_length() > _MAX_INTEGER_BITS:
        return (
            f"must be a number of at most {MAX_INTEGER_DIGITS} digits "
            f"(got an integer of about {int(value.bit_length() / 3.3219280948873626)} digits)"
        )
    return None


_Trail = tuple[Any, ...]
"""(parent trail, key or index): where a value sits, turned into a path only when a problem is found."""


def _path(trail: _Trail | None) -> str:
    keys: list[str | int] = []
    while trail is not None:
        trail, key = trail
        keys.append(key)
    path = ""
    for key in reversed(keys):
        path = f"{path}[{key}]" if isinstance(key, int) else join(path, printable(key))
    return path or "config"


def check_document(data: Any) -> list[str]:
    """Problems (``"path: message"``) that make ``data`` unsafe to validate; empty when it is safe.

    Runs on every load and reload, so the common case is kept cheap: type checks by identity first, ASCII text
    accepted without encoding it, paths built only for problems (a file of 1,000 rules takes a few ms).
    """
    problems: list[str] = []
    stack: list[tuple[Any, int, _Trail | None]] = [(data, 0, None)]
    pop, push = stack.pop, stack.append
    seen = 0
    while stack:
        value, depth, trail = pop()
        seen += 1
        if seen > MAX_VALUES:
            problems.append(f"config: holds more than {MAX_VALUES:,} values (aliases counted where used)")
            break
        kind = type(value)
        if kind is str:
            if not value.isascii() and (problem := _text_problem(value)) is not None:
                problems.append(f"{_path(trail)}: {problem}")
        elif kind is dict or kind is list or isinstance(value, Mapping | list | tuple):
            if depth >= MAX_DEPTH:
                problems.append(f"{_path(trail)}: nested more than {MAX_DEPTH} levels deep")
                continue
            depth += 1
            if isinstance(value, Mapping):
                for key, item in value.items():
                    name = key if type(key) is str else str(key)
                    if not name.isascii() and (problem := _text_problem(name)) is not None:
                        problems.append(f"{_path((trail, name))}: {problem}")
                        continue
                    push((item, depth, (trail, name)))
                if isinstance(value, DuplicateKeys):
                    problems.extend(
                        f"{_path((trail, key))}: duplicate key (given more than once in this table)"
                        for key in value.duplicates
                    )
            else:
                for index, item in enumerate(value):
                    push((item, depth, (trail, index)))
        elif kind is int:
            if value.bit_length() > _MAX_INTEGER_BITS:
                problems.append(f"{_path(trail)}: {_integer_problem(value)}")
        elif (kind is TooLongInteger or (isinstance(value, int) and kind is not bool)) and (
            problem := _integer_problem(value)
        ) is not None:
            problems.append(f"{_path(trail)}: {problem}")
    return problems
