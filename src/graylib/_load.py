"""The build pipeline: rules (a path, a mapping, text with its format, or a ``Config``) -> a checked Snapshot.

``build`` is the only way to a snapshot that is served: ``load_config``, ``Client``, the reloader and the
simulator all go through it. It reads the rules (``read_rules``: the one reader of rules text, and the one
digest), validates them (``parse_config``; a ``Config`` made in Python is written back to a document and
validated the same way), compiles every rule once for the client's identity, and runs the smoke cases on
that compiled snapshot. Any problem raises ``ConfigError`` with every problem found.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from ._compile import Snapshot, compile_config, digest_config, digest_text
from ._config import Config, format_of, parse_config, parse_text
from ._config._dump import recheck
from ._errors import ConfigError
from ._smoke import smoke_failures

__all__ = [
    "RulesSource",
    "RulesText",
    "build",
    "collector_paused",
    "load_config",
    "read_rules",
    "read_text",
    "text_of_bytes",
]


@attrs.frozen
class RulesText:
    """Rules as text, with the format to read them in (``"toml"``, ``"json"`` or ``"yaml"``).

    ``name`` says where the text came from (a file path), for messages and ``Config.source``.
    """

    text: str
    format: str
    name: str = ""


RulesSource = Config | Mapping[str, Any] | str | os.PathLike[str] | RulesText
"""Anything ``build`` reads rules from."""


def read_text(path: str | os.PathLike[str], *, fmt: str | None = None) -> RulesText:
    """A rules file's text and format (``fmt``, else its extension's); ``ConfigError`` when it cannot be read
    or has no known extension."""
    name = os.fspath(path)
    fmt = fmt or format_of(name)
    try:
        text = Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read file: {exc}"], source=name) from exc
    return RulesText(text, fmt, name)


def text_of_bytes(data: bytes, name: str, *, fmt: str | None = None) -> RulesText:
    """Rules text from a file's exact bytes, in ``fmt`` (else the format ``name``'s extension says).

    For signed rules: a signature covers the bytes on disk, so they are read once, checked against the
    signatures and decoded here for validation, with no newline translation between the two.
    """
    fmt = fmt or format_of(name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"cannot read file: not UTF-8 text ({exc})"], source=name) from exc
    return RulesText(text, fmt, name)


def read_rules(source: Mapping[str, Any] | str | os.PathLike[str] | RulesText) -> tuple[Any, str, str]:
    """``(document, digest, name)`` of rules to validate; the digest is empty for a mapping (it has no text:
    its config's repr is digested once validated)."""
    if isinstance(source, Mapping):
        return source, "", ""
    if isinstance(source, str | os.PathLike):
        source = read_text(source)
    if isinstance(source, RulesText):
        document = parse_text(source.text, source.format, source=source.name)
        return document, digest_text(source.text), source.name
    msg = f"rules must be a path, a mapping or a Config, not {type(source).__name__}"
    raise TypeError(msg)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a config is built.

    Building 1,000 rules allocates about 100,000 tracked objects and, with the collector on, triggers full
    collections that walk everything the whole process holds: in a payment service with a large heap that
    costs more than the build itself. Compiled snapshots hold no reference cycles, and any cycle a build
    leaves behind is collected once the collector resumes; it stays off if the application had turned it
    off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build(source: RulesSource, *, cluster: str = "", node: str = "") -> Snapshot:
    """The checked, compiled snapshot of ``source`` for the client at ``cluster``/``node``.

    Raises ``ConfigError`` (every problem, each with its path) when the rules are invalid or a smoke case
    fails as this client.
    """
    with collector_paused():
        if isinstance(source, Config):
            config = recheck(source)  # built or changed in Python: the same checks as a document
            digest, name = digest_config(config), config.source
        else:
            document, digest, name = read_rules(source)
            config = parse_config(document, source=name)
        snapshot = compile_config(config, cluster=cluster, node=node, digest=digest)
        failures = smoke_failures(snapshot)
    if failures:
        raise ConfigError([f"smoke case {f}" for f in failures], source=name or None)
    return snapshot


def load_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> Config:
    """Read (TOML, JSON, YAML with the extra), validate and smoke-test a configuration.

    Raises ``ConfigError`` carrying every problem found, each with its path, e.g.
    ``rules[2].rollout.stages[1].targets["*"]: must be between 0 and 100 (got 120)``.
    """
    if not isinstance(source, str | os.PathLike | Mapping):
        msg = f"load_config() takes a path or a mapping, not {type(source).__name__}"
        raise TypeError(msg)
    return build(source).config
