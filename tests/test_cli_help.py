"""Every command and every argument of the command line says what it is for; store URLs are spelt one way."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from graylib.cli import build_parser, main
from graylib.cli._store import STORE_URL_FORMS


def parsers(
    parser: argparse.ArgumentParser, name: str = "graylib"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """``parser`` and every sub-parser below it, each with its command line prefix."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from parsers(sub, f"{name} {sub_name}")


COMMANDS = dict(parsers(build_parser()))


def test_every_command_is_walked() -> None:
    names = {name.split(" ", 1)[1] for name in COMMANDS if " " in name}
    assert names == {
        "validate",
        "explain",
        "simulate",
        "kill",
        "revive",
        "switches",
        "smoke",
        "plan",
        "keygen",
        "approve",
        "verify",
        "rotate",
        "trust",
        "trust publish",
        "trust show",
        "status",
        "schema",
        "init-store",
        "ledger",
        "ledger trim",
        "reconcile",
        "publish",
        "rollback",
        "history",
        "show",
        "fleet",
    }


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_argument_has_help(command: str) -> None:
    parser = COMMANDS[command]
    missing = [
        "/".join(action.option_strings) or action.dest
        for action in parser._actions
        if not (action.help and action.help.strip()) or action.help == argparse.SUPPRESS
    ]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            missing += [
                f"command {c.dest}" for c in action._choices_actions if not (c.help and c.help.strip())
            ]
    assert not missing, f"{command}: no help for {missing}"


@pytest.mark.parametrize(
    "command", sorted(name for name, p in COMMANDS.items() if "--store" in p._option_string_actions)
)
def test_every_store_option_spells_the_urls_the_same_way(command: str) -> None:
    help_text = COMMANDS[command]._option_string_actions["--store"].help or ""
    assert STORE_URL_FORMS in help_text


def test_simulate_help_in_a_subprocess_names_the_store_urls() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "graylib", "simulate", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "400"},
    )
    assert run.returncode == 0, run.stderr
    assert " ".join(STORE_URL_FORMS.split()) in " ".join(run.stdout.split())


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["kill", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--rules FILE" in out and "--force" in out
