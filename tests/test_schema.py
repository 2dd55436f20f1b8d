"""The JSON Schema of the rules format: shipped in the package, printed by ``graylib schema``, in step with
the validator (every table's keys and required keys, both ways), and accepting every example file."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs; the test extra only
import pytest
import tomli

from graylib._config._keys import KEYS, REQUIRED
from graylib._config._parse import STATES
from graylib._values import Reason
from graylib.cli import main
from tests.helpers import make_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").rglob("*.toml"))
RULES_EXAMPLES = [p for p in EXAMPLES if "rules" in tomli.loads(p.read_text(encoding="utf-8"))]
"""The example rules files (examples/ also holds a traffic model for ``graylib simulate``)."""


def _schema() -> dict[str, Any]:
    text = resources.files("graylib").joinpath("rules.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _as_json(value: Any) -> Any:
    """A TOML document as an editor's schema checker sees it: date-times as RFC 3339 text."""
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _errors(document: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(_schema(), format_checker=jsonschema.FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_the_schema_is_a_valid_draft_7_schema() -> None:
    jsonschema.Draft7Validator.check_schema(_schema())


def test_the_examples_are_found() -> None:
    assert {p.name for p in RULES_EXAMPLES} >= {"rules.toml", "guarded.toml", "naive.toml"}
    assert {p.name for p in EXAMPLES} - {p.name for p in RULES_EXAMPLES} == {"traffic.toml"}


@pytest.mark.parametrize("path", RULES_EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_rules_example_validates(path: Path) -> None:
    document = tomli.loads(path.read_text(encoding="utf-8"))
    assert _errors(_as_json(document)) == []


def test_the_test_config_validates() -> None:
    assert _errors(make_config()) == []


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        ({"paymnet_types": ["a"]}, "rules/0"),  # a typo'd key
        ({"discount": {"percent": 10, "max_of": 100}}, "rules/0/discount"),
        ({"limits": {"per_acount": {"count": 1}}}, "rules/0/limits"),
        ({"limits": {"per_account": {"count": 1, "window": "1w"}}}, "rules/0/limits/per_account/window"),
        ({"state": "paused"}, "rules/0/state"),
        ({"id": "a b"}, "rules/0/id"),
        ({"discount": {"amount": 100.5}}, "rules/0/discount"),  # 100.0 is an integer to JSON Schema
        ({"starts_at": "20250116T000000+0800"}, "rules/0/starts_at"),
    ],
)
def test_mistakes_are_flagged_where_they_are(overrides: dict[str, Any], where: str) -> None:
    errors = _errors(make_config(overrides))
    assert any(e.startswith(where) for e in errors), errors


def test_a_typo_at_the_top_is_flagged() -> None:
    document = make_config()
    document["versoin"] = document.pop("version")
    assert any("versoin" in e for e in _errors(document))


# -- in step with the validator ----------------------------------------------------------------------------


def _tables(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: d for name, d in schema["definitions"].items() if "properties" in d}


def test_every_validator_table_is_in_the_schema_with_the_same_keys() -> None:
    tables = _tables(_schema())
    for name, keys in KEYS.items():
        assert name in tables, f"the schema has no definitions/{name}"
        assert set(tables[name]["properties"]) == set(keys), name
        assert set(tables[name].get("required", ())) == set(REQUIRED.get(name, ())), name
        assert tables[name]["additionalProperties"] is False, name


def test_every_schema_table_is_one_the_validator_knows() -> None:
    assert set(_tables(_schema())) == set(KEYS)
    assert set(REQUIRED) <= set(KEYS)


def test_every_reference_resolves_and_every_table_is_reachable() -> None:
    schema = _schema()
    refs: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"])
            for item in node.values():
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    names = {ref.removeprefix("#/definitions/") for ref in refs}
    assert names <= set(schema["definitions"]), names - set(schema["definitions"])
    assert set(KEYS) <= names


def test_enumerations_match_the_validator() -> None:
    d = _schema()["definitions"]
    assert d["rule"]["properties"]["state"]["enum"] == list(STATES)
    assert d["expect"]["properties"]["reason"]["enum"] == list(Reason.__members__)


# -- graylib schema ------------------------------------------------------------------------------------------


def test_graylib_schema_prints_the_shipped_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == _schema()


def test_graylib_schema_writes_a_file(tmp_path: Path) -> None:
    out = tmp_path / "rules.schema.json"
    done = subprocess.run(
        [sys.executable, "-m", "graylib", "schema", "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text(encoding="utf-8")) == _schema()
