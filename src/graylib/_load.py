"""``load_config``: read, validate and smoke-test a configuration in one call."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

from ._config import Config, format_of, parse_config, parse_text, read_file
from ._errors import ConfigError
from ._smoke import check_smoke

__all__ = ["load_config", "load_config_bytes", "load_config_with_digest"]


def load_config_with_digest(
    source: str | os.PathLike[str] | Mapping[str, Any], *, cluster: str = "", node: str = ""
) -> tuple[Config, str]:
    """The validated config and a digest of its source (file text, or the mapping's repr).

    Smoke cases run as the client at ``cluster``/``node`` would run them.
    """
    if isinstance(source, Mapping):
        config = parse_config(source)
        digest = hashlib.sha256(repr(config).encode()).hexdigest()
        name = ""
    elif isinstance(source, str | os.PathLike):
        data, text = read_file(source)
        name = os.fspath(source)
        config = parse_config(data, source=name)
        digest = hashlib.sha256(text.encode()).hexdigest()
    else:
        msg = f"load_config() takes a path or a mapping, not {type(source).__name__}"
        raise TypeError(msg)
    failures = check_smoke(config, cluster=cluster, node=node)
    if failures:
        raise ConfigError([f"smoke case {f}" for f in failures], source=name or None)
    return config, digest


def load_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> Config:
    """Read (TOML, JSON, YAML with the extra), validate and smoke-test a configuration.

    Raises ``ConfigError`` carrying every problem found, each with its path, e.g.
    ``rules[2].rollout.stages[1].targets["*"]: must be between 0 and 100 (got 120)``.
    """
    return load_config_with_digest(source)[0]


def load_config_bytes(data: bytes, *, source: str, cluster: str = "", node: str = "") -> Config:
    """Validate and smoke-test a config from a file's exact bytes, in the format ``source``'s name says.

    For signed configs: the bytes a signature covers are the bytes parsed, read once, so the file cannot
    change between the check of its signatures and the check of its content.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"cannot read file: not UTF-8 text ({exc})"], source=source) from exc
    config = parse_config(parse_text(text, format_of(source), source=source), source=source)
    failures = check_smoke(config, cluster=cluster, node=node)
    if failures:
        raise ConfigError([f"smoke case {f}" for f in failures], source=source)
    return config
