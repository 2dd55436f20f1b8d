"""Configuration: read a document, validate it with every problem's path, build a frozen model."""

from ._keys import CONTEXT_FIELDS
from ._model import (
    LIMIT_SUBJECTS,
    Allow,
    Change,
    ClusterTraffic,
    Config,
    Deny,
    Discount,
    Guardrails,
    Limit,
    Limits,
    RateAlarm,
    Rollout,
    Rule,
    SmokeCase,
    Stage,
)
from ._parse import parse_config
from ._read import format_of, parse_text, read_file

__all__ = [
    "CONTEXT_FIELDS",
    "LIMIT_SUBJECTS",
    "Allow",
    "Change",
    "ClusterTraffic",
    "Config",
    "Deny",
    "Discount",
    "Guardrails",
    "Limit",
    "Limits",
    "RateAlarm",
    "Rollout",
    "Rule",
    "SmokeCase",
    "Stage",
    "format_of",
    "parse_config",
    "parse_text",
    "read_file",
]
