"""Read a rules file (TOML, JSON, or YAML when PyYAML is installed) into a plain mapping.

TOML is read with ``tomli``, whose compiled wheels parse about three times faster than the standard
library's pure-Python ``tomllib`` (the same parser, same results): a file of 1,000 rules takes ~50 ms
instead of ~140 ms, most of the reload budget.

Every reader is bounded (``_document``): a document of more than ``MAX_DOCUMENT_CHARS`` is refused before it
is parsed; JSON and YAML readers keep repeated keys and over-long integers as markers that the document check
reports with their paths; nesting that breaks a parser's recursion, and an integer that ``int()`` refuses in
TOML, become a ``ConfigError`` with the line. YAML is read by ``_yaml``, which also bounds aliases.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import tomli as tomllib

from .._errors import ConfigError
from ._document import MAX_DEPTH, MAX_DOCUMENT_CHARS, MAX_INTEGER_DIGITS, DuplicateKeys, TooLongInteger

__all__ = ["FORMATS", "format_of", "parse_text", "read_file"]

FORMATS = {".toml": "toml", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}


def format_of(path: str | os.PathLike[str]) -> str:
    """The document format from a file name; ``ConfigError`` for an extension we do not read."""
    suffix = Path(path).suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        msg = f"unsupported file extension {suffix!r}; use .toml, .json, .yaml or .yml"
        raise ConfigError([msg], source=os.fspath(path)) from None


def parse_text(text: str, fmt: str, *, source: str = "") -> Any:
    """Parse document text; syntax errors become a ``ConfigError`` naming the line where the parser can."""
    src = source or None
    if len(text) > MAX_DOCUMENT_CHARS:
        msg = f"the document is larger than {MAX_DOCUMENT_CHARS:,} characters"
        raise ConfigError([msg], source=src)
    if fmt == "toml":
        return _toml(text, src)
    if fmt == "json":
        return _json(text, src)
    if fmt == "yaml":
        return _yaml(text, src)
    raise ConfigError([f"unknown format {fmt!r}"], source=src)


_TOML_LONG_INTEGER = re.compile(r"[0-9][0-9_]{" + str(MAX_INTEGER_DIGITS) + ",}")


def _toml(text: str, src: str | None) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"TOML syntax: {exc}"], source=src) from exc
    except RecursionError as exc:
        msg = f"TOML: nested more than {MAX_DEPTH} levels deep ({exc})"
        raise ConfigError([msg], source=src) from exc
    except ValueError as exc:  # int() refused an integer of thousands of digits
        found = _TOML_LONG_INTEGER.search(text)
        where = f"line {text.count(chr(10), 0, found.start()) + 1}: " if found else ""
        msg = f"TOML: {where}an integer of more than {MAX_INTEGER_DIGITS} digits"
        raise ConfigError([msg], source=src) from exc


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    table = dict(pairs)
    if len(table) == len(pairs):  # the common case, at the cost of one length comparison
        return table
    seen: set[str] = set()
    duplicates = [key for key, _ in pairs if key in seen or seen.add(key)]  # type: ignore[func-returns-value]
    return DuplicateKeys(pairs, duplicates)


def _json_integer(text: str) -> int | TooLongInteger:
    digits = len(text) - text.startswith("-")
    return TooLongInteger(digits) if digits > MAX_INTEGER_DIGITS else int(text)


def _json(text: str, src: str | None) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_json_object, parse_int=_json_integer)
    except json.JSONDecodeError as exc:
        raise ConfigError([f"JSON syntax: {exc}"], source=src) from exc
    except RecursionError as exc:
        msg = f"JSON: {_too_deep_at(text)}: nested more than {MAX_DEPTH} levels deep"
        raise ConfigError([msg], source=src) from exc


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _too_deep_at(text: str) -> str:
    """Where JSON text first nests deeper than ``MAX_DEPTH`` (strings skipped), as ``line L, column C``."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, token.start()) + 1
                column = token.start() - (text.rfind("\n", 0, token.start()) + 1) + 1
                return f"line {line}, column {column}"
        elif char in "]}":
            depth -= 1
    return "somewhere"


def _yaml(text: str, src: str | None) -> Any:
    try:
        from ._yaml import YAMLRefused, load_yaml  # noqa: PLC0415 - optional extra, imported for YAML only
    except ImportError as exc:
        msg = "YAML needs PyYAML: pip install PyYAML (the 'yaml' extra)"
        raise ConfigError([msg], source=src) from exc
    import yaml  # noqa: PLC0415 - present once ._yaml imported

    try:
        return load_yaml(text)
    except YAMLRefused as exc:
        raise ConfigError([str(exc)], source=src) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"YAML syntax: {exc}"], source=src) from exc


def read_file(path: str | os.PathLike[str]) -> tuple[Any, str]:
    """The parsed document and its raw text (the text is what reloads hash to detect changes)."""
    fmt = format_of(path)
    try:
        with Path(path).open(encoding="utf-8") as file:
            text = file.read(MAX_DOCUMENT_CHARS + 1)  # parse_text refuses it when this is one too many
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read file: {exc}"], source=os.fspath(path)) from exc
    return parse_text(text, fmt, source=os.fspath(path)), text
