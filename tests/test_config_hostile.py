"""Hostile documents: text that is not text, numbers and nesting that break parsers, repeated keys.

Each must be refused with a ``ConfigError`` naming where the problem is, in every reader (TOML, JSON, YAML and
a mapping passed to ``load_config``), before any part of graylib hashes, prints or walks the value.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from benchmarks.configs import reload_toml

import graylib
from graylib import ConfigError, load_config
from graylib._config import parse_text
from graylib._simulate._unsafe import load_unchecked
from graylib.cli import main
from tests.helpers import make_config

ROOT = Path(__file__).resolve().parents[1]
SURROGATE = json.loads('"\\ud800"')  # what a JSON body with "\ud800" decodes to


def _problems(source: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(source)
    return "\n".join(info.value.problems)


# -- lone surrogates ---------------------------------------------------------------------------------------


def test_a_salt_with_a_lone_surrogate_is_refused_at_load_not_a_crash_later(tmp_path: Path) -> None:
    """mmh3 crashes the process on such a string: the client must refuse the file instead."""
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(make_config({"salt": "a\ud800b", "allow": {"accounts": []}})))
    script = textwrap.dedent(
        f"""
        import graylib
        try:
            client = graylib.Client.from_file({str(rules)!r})
        except graylib.ConfigError as exc:
            print("REFUSED", exc.problems)
        else:
            ctx = graylib.Context(account="u-1", payment_type="online_purchase", amount=10_000)
            print("SERVED", client.evaluate("subsidy", ctx).reason)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "REFUSED" in done.stdout, done.stdout
    assert "rules[0].salt: must be text" in done.stdout


@pytest.mark.parametrize(
    ("overrides", "top", "path"),
    [
        ({"salt": SURROGATE}, {}, "rules[0].salt"),
        ({"id": "r" + SURROGATE}, {}, "rules[0].id"),
        ({"description": SURROGATE}, {}, "rules[0].description"),
        ({"payment_types": ["online_purchase", SURROGATE]}, {}, "rules[0].payment_types[1]"),
        ({"allow": {"accounts": [SURROGATE]}}, {}, "rules[0].allow.accounts[0]"),
        ({"deny": {"devices": ["d", SURROGATE]}}, {}, "rules[0].deny.devices[1]"),
        (
            {"smoke": [{"name": "n", "context": {"account": SURROGATE}, "expect": {"applies": False}}]},
            {},
            "rules[0].smoke[0].context.account",
        ),
        ({}, {"version": "v" + SURROGATE}, "version"),
        ({}, {"change": {"author": SURROGATE}}, "change.author"),
    ],
)
def test_a_lone_surrogate_anywhere_names_its_path(
    overrides: dict[str, Any], top: dict[str, Any], path: str
) -> None:
    problems = _problems(make_config(overrides, **top))
    assert f"{path}: must be text (a lone surrogate" in problems, problems
    problems.encode("utf-8")  # the message itself can be printed and logged


def test_a_lone_surrogate_in_a_key_is_refused_and_the_message_is_printable() -> None:
    stages = [{"name": "s", "targets": {"c" + SURROGATE: 100}}]
    problems = _problems(make_config({"rollout": {"stage": "s", "stages": stages}}))
    assert r'rules[0].rollout.stages[0].targets["c\\ud800"]: must be text' in problems, problems
    problems.encode("utf-8")


def test_a_lone_surrogate_in_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(make_config({"salt": SURROGATE})))
    assert "rules[0].salt: must be text" in _problems(path)


# -- numbers beyond int() ------------------------------------------------------------------------------------

HUGE = "9" * 5000


def test_a_huge_integer_in_json_names_its_path(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    text = json.dumps(make_config({"discount": {"amount": 7}}))
    path.write_text(text.replace('"amount": 7', f'"amount": {HUGE}'))
    problems = _problems(path)
    assert "rules[0].discount.amount: must be a number of at most" in problems, problems


def test_a_huge_integer_in_yaml_names_its_path(tmp_path: Path) -> None:
    pytest.importorskip("yaml", reason="PyYAML is the 'yaml' extra; the test extra installs it")
    path = tmp_path / "rules.yaml"
    path.write_text(f"version: v1\nguardrails: {{max_percent_off: 30, max_amount_off: {HUGE}}}\nrules: []\n")
    problems = _problems(path)
    assert "guardrails.max_amount_off: must be a number of at most" in problems, problems


def test_a_huge_integer_in_toml_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    text = f'version = "v1"\nrules = []\n[guardrails]\nmax_percent_off = 30\nmax_amount_off = {HUGE}\n'
    path.write_text(text)
    problems = _problems(path)
    # int() refuses it inside the TOML reader (Python 3.10.7 and later), or it is read and refused after
    limit = hasattr(sys, "get_int_max_str_digits") and sys.get_int_max_str_digits() != 0
    expected = "TOML: line 5: an integer of more than" if limit else "guardrails.max_amount_off: must be"
    assert expected in problems, problems


def test_a_huge_integer_in_a_mapping_names_its_path() -> None:
    problems = _problems(make_config({"discount": {"amount": 10**5000}}))
    assert "rules[0].discount.amount: must be a number of at most" in problems, problems


# -- nesting -----------------------------------------------------------------------------------------------


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def test_deep_nesting_in_a_mapping_names_its_path() -> None:
    problems = _problems(make_config({"description": _deep(100_000)}))
    assert "rules[0].description[0][0]" in problems and "nested more than" in problems, problems


def test_a_mapping_that_contains_itself_is_refused() -> None:
    data = make_config()
    data["rules"][0]["deny"] = {"accounts": []}
    data["rules"][0]["deny"]["accounts"].append(data["rules"][0]["deny"])
    assert "nested more than" in _problems(data)


@pytest.mark.parametrize("levels", [100, 100_000])
def test_deep_nesting_in_json(tmp_path: Path, levels: int) -> None:
    path = tmp_path / "rules.json"
    text = json.dumps(make_config({"description": "X"}))
    path.write_text(text.replace('"X"', "[" * levels + "]" * levels))
    problems = _problems(path)
    assert "nested more than" in problems, problems
    assert "rules[0].description" in problems or "JSON: line 1, column" in problems, problems


@pytest.mark.parametrize("levels", [100, 100_000])
def test_deep_nesting_in_toml(tmp_path: Path, levels: int) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(f'version = "v1"\nrules = []\nx = {"[" * levels}{"]" * levels}\n')
    problems = _problems(path)
    assert "nested more than" in problems, problems


@pytest.mark.parametrize("levels", [100, 100_000])
def test_deep_nesting_in_yaml(tmp_path: Path, levels: int) -> None:
    pytest.importorskip("yaml", reason="PyYAML is the 'yaml' extra; the test extra installs it")
    path = tmp_path / "rules.yaml"
    path.write_text("version: v1\nrules: []\nx: " + "[" * levels + "]" * levels + "\n")
    problems = _problems(path)
    assert "nested more than" in problems, problems


def test_nesting_errors_are_config_errors_from_parse_text() -> None:
    with pytest.raises(ConfigError):
        parse_text("[" * 100_000 + "]" * 100_000, "json")


# -- duplicate keys ----------------------------------------------------------------------------------------


def test_duplicate_key_in_json_names_the_key_and_path(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    text = json.dumps(make_config({"discount": {"amount": 7}}))
    path.write_text(text.replace('"amount": 7', '"amount": 7, "amount": 70000'))
    problems = _problems(path)
    assert "rules[0].discount.amount: duplicate key" in problems, problems


def test_duplicate_key_in_yaml_names_the_key_and_path(tmp_path: Path) -> None:
    pytest.importorskip("yaml", reason="PyYAML is the 'yaml' extra; the test extra installs it")
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: v1\nrules: []\nguardrails:\n  max_percent_off: 30\n  max_amount_off: 100\n"
        "  max_percent_off: 90\n"
    )
    problems = _problems(path)
    assert "guardrails.max_percent_off: duplicate key" in problems, problems


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    pytest.importorskip("yaml", reason="PyYAML is the 'yaml' extra; the test extra installs it")
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: v1\nrules: []\nbase: &g {max_percent_off: 30, max_amount_off: 100}\n"
        "guardrails:\n  <<: *g\n  max_percent_off: 20\n"
    )
    problems = _problems(path)  # 'base' is not a config key; the merge itself is fine
    assert "base: unknown key" in problems and "duplicate" not in problems, problems


# -- whole-value patterns ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule_id", ["r1\n", "r1\r", "r1 ", "\nr1"])
def test_a_rule_id_with_a_trailing_newline_is_refused(rule_id: str) -> None:
    assert "rules[0].id: must be 1-128 characters" in _problems(make_config({"id": rule_id}))


# -- YAML alias expansion ------------------------------------------------------------------------------

LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)),
        "version: *i",
        "rules: []",
    ]
)


def test_the_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    """~0.5 KB of nested aliases standing for 9**9 strings: refused before anything is built."""
    pytest.importorskip("yaml", reason="PyYAML is the 'yaml' extra; the test extra installs it")
    path = tmp_path / "rules.yaml"
    path.write_text(LAUGHS)
    assert len(LAUGHS) < 700
    script = textwrap.dedent(
        f"""
        import graylib
        try:
            graylib.load_config({str(path)!r})
        except graylib.ConfigError as exc:
            print("REFUSED", exc.problems)
        """
    )
    # Unbounded, the validator walks 387 million values (minutes); refused, it takes milliseconds.
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "REFUSED" in done.stdout and "expands to more than 2,000,000 values" in done.stdout, done.stdout


def test_too_many_aliases_are_refused(tmp_path: Path) -> None:
    pytest.importorskip("yaml", reason="PyYAML is the 'yaml' extra; the test extra installs it")
    path = tmp_path / "rules.yaml"
    path.write_text("version: v1\nrules: []\nx: &x 1\ny: [" + ", ".join(["*x"] * 10_001) + "]\n")
    assert "YAML: line 4, column" in _problems(path) and "more than 10,000 aliases" in _problems(path)


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("yaml", reason="PyYAML is the 'yaml' extra; the test extra installs it")
    path = tmp_path / "rules.yaml"
    path.write_text("version: v1\nrules: []\nx: &x [1, *x]\n")
    assert "an alias refers to a node that contains it" in _problems(path)


def test_aliases_that_share_a_stage_plan_still_load(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is the 'yaml' extra; the test extra installs it")
    data = make_config(*({"id": f"r{i}"} for i in range(50)))
    plan = data["rules"][0]["rollout"]["stages"]
    for rule in data["rules"]:
        rule["rollout"]["stages"] = plan  # one list: the dumper writes it once and aliases it
    text = yaml.safe_dump(data)
    assert text.count("*id") == 49
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    assert len(load_config(path).rules) == 50


def test_a_document_past_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{"version": "' + "x" * (16 * 1024 * 1024) + '"}')
    assert "larger than 16,777,216 characters" in _problems(path)
    with pytest.raises(ConfigError, match="larger than 16,777,216 characters"):
        parse_text(" " * (16 * 1024 * 1024 + 1), "toml")


def test_a_file_of_1000_rules_is_well_inside_the_limits(tmp_path: Path) -> None:
    text = reload_toml(1_000, "v1")
    assert len(text) * 10 < 16 * 1024 * 1024
    path = tmp_path / "rules.toml"
    path.write_text(text)
    assert len(load_config(path).rules) == 1_000


def test_a_client_starting_on_a_hostile_file_serves_its_last_good_copy(tmp_path: Path) -> None:
    path, last_good = tmp_path / "rules.json", tmp_path / "last-good.json"
    path.write_text(json.dumps(make_config()))
    graylib.Client.from_file(path, last_good_path=last_good).close()
    assert last_good.exists()
    path.write_text('{"version": ' + "[" * 100_000 + "]" * 100_000 + "}")
    client = graylib.Client.from_file(path, last_good_path=last_good)
    try:
        assert client.config.version == "test-1"
    finally:
        client.close()


def test_the_cli_reports_a_hostile_file_as_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{"version": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert main(["validate", str(path)]) == 1
    assert main(["plan", str(path), str(path)]) == 2
    assert "nested more than 32 levels deep" in capsys.readouterr().out


def test_simulating_an_unchecked_config_refuses_a_hostile_document_too(tmp_path: Path) -> None:
    """``--unsafe-skip-validation`` lifts the guardrails, never the limits on the document itself."""
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(make_config({"description": "X"})).replace('"X"', "[" * 600 + "]" * 600))
    with pytest.raises(ConfigError, match="nested more than 32 levels deep"):
        load_unchecked(path)
