"""The publishing commands end to end on a real SQLite file: publish, plan --store, history, show,
rollback and fleet, with their exit codes and JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import graylib
from graylib import SQLiteStore
from graylib.cli import main
from tests.fleet.support import rules_text, write

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def url(tmp_path: Path) -> str:
    SQLiteStore(tmp_path / "graylib.db").close()
    return f"sqlite:///{tmp_path / 'graylib.db'}"


def test_publish_history_show_rollback(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = write(tmp_path, "one.toml", rules_text("smoke", "v1"))
    two = write(tmp_path, "two.toml", rules_text("canary-node", "v2"))
    assert main(["publish", one, "--store", url, "--by", "li.wei", "--note", "MKT-1"]) == 0
    out = capsys.readouterr().out
    assert "ALLOWED" in out and "published revision 1 (version v1)" in out
    assert main(["plan", two, "--store", url]) == 0
    assert "plan v1 -> v2" in capsys.readouterr().out
    assert main(["publish", two, "--store", url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["published"] is True and data["revision"]["number"] == 2 and data["refused"] is None
    assert main(["publish", two, "--store", url]) == 0
    assert "nothing to publish: revision 2" in capsys.readouterr().out
    assert main(["show", "--store", url, "--revision", "1"]) == 0
    assert capsys.readouterr().out == rules_text("smoke", "v1")
    assert main(["rollback", "--store", url, "--by", "oncall"]) == 0
    assert "published revision 3 (version v1, restoring revision 1)" in capsys.readouterr().out
    assert main(["history", "--store", url, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["number"], r["rollback_of"]) for r in listed] == [(3, 1), (2, None), (1, None)]
    assert "text" not in listed[0]
    assert main(["history", "--store", url]) == 0
    assert "revision 3 (current): version v1, restores revision 1" in capsys.readouterr().out


def test_refusals_and_bad_input(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish", write(tmp_path, "a.toml", rules_text("smoke", "v1")), "--store", url]) == 0
    skipping = write(tmp_path, "b.toml", rules_text("small-cluster", "v2"))
    assert main(["publish", skipping, "--store", url]) == 1
    captured = capsys.readouterr()
    assert "REFUSED" in captured.out and "not published: change refused by policy" in captured.err
    reused = write(tmp_path, "c.toml", rules_text("smoke", "v1", note="edited"))
    assert main(["publish", reused, "--store", url]) == 1
    assert "version 'v1' already names another text" in capsys.readouterr().err
    assert main(["rollback", "--store", url, "--to", "1"]) == 2
    assert "revision 1 is the current revision" in capsys.readouterr().err
    assert main(["show", "--store", url, "--revision", "9"]) == 2
    assert "no revision 9 in this store (revisions 1 to 1)" in capsys.readouterr().err
    assert main(["plan", "a.toml", "b.toml", "--store", url]) == 2
    store = SQLiteStore(url.removeprefix("sqlite:///"))
    assert store.head_revision() == 1
    store.close()


def test_fleet_exits_1_while_a_node_is_behind(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SQLiteStore(url.removeprefix("sqlite:///"))
    graylib.publish(store, write(tmp_path, "a.toml", rules_text("smoke", "v1")))
    client = graylib.Client.from_store(store, cluster="sh-small", node="sh-small-01", follow_interval=60)
    assert main(["fleet", "--store", url]) == 0
    out = capsys.readouterr().out
    assert "current revision: 1; 1 following clients" in out
    assert f"sh-small/sh-small-01 {os.uname().nodename}:{os.getpid()}  revision 1 (version v1)" in out
    graylib.publish(store, write(tmp_path, "b.toml", rules_text("canary-node", "v2")))
    assert main(["fleet", "--store", url, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["current_revision"] == 2
    assert [(n["node"], n["revision"], n["behind"]) for n in data["nodes"]] == [("sh-small-01", 1, True)]
    assert client.reload_now()  # the record says what the client serves now
    assert main(["fleet", "--store", url]) == 0
    client.close()
    store.close()


def test_the_publish_example_runs(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run(
        ["sh", str(ROOT / "examples" / "publish.sh"), str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "python" not in (ROOT / "examples" / "publish.sh").read_text(encoding="utf-8")
    assert f"sqlite:///{tmp_path}/graylib.db: initialised, epoch" in run.stdout
    assert "published revision 3 (version 2025-01-16.1, restoring revision 1)" in run.stdout
    assert "current revision: 3; 0 following clients" in run.stdout
