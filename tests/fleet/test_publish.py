"""graylib.publish, history and rollback against a real SQLite file (and every store via the conformance
suite): validation, smoke cases, the change policy, compare-and-set, one text per version."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import graylib
from graylib import ConfigError, ConflictError, PolicyError, SQLiteStore
from graylib._load import RulesText
from graylib._publish import commit, prepare
from tests.fleet.support import rules_text, write
from tests.helpers import BASE_RULE, make_config


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "graylib.db")
    yield opened
    opened.close()


def test_a_publish_becomes_revision_one_with_its_exact_text(store: SQLiteStore, tmp_path: Path) -> None:
    text = rules_text("smoke", "v1")
    rev = graylib.publish(store, write(tmp_path, "r.toml", text), by="li.wei", note="MKT-1234")
    assert (rev.number, rev.version, rev.rollback_of) == (1, "v1", None)
    assert rev.text == text
    assert rev.author == "li.wei" and rev.published_by == "li.wei" and rev.note == "MKT-1234"
    assert rev.approvers == ("wang.fang", "zhang.min")
    assert graylib.history(store) == [rev]
    assert store.revision(1) == rev


def test_an_invalid_file_publishes_nothing(store: SQLiteStore, tmp_path: Path) -> None:
    broken = rules_text("smoke").replace("percent = 15", "percent = 95")
    with pytest.raises(ConfigError, match="percent"):
        graylib.publish(store, write(tmp_path, "r.toml", broken))
    failing_smoke = rules_text("smoke").replace("discount = 8_100", "discount = 8_000")
    with pytest.raises(ConfigError, match="smoke case"):
        graylib.publish(store, write(tmp_path, "s.toml", failing_smoke))
    with pytest.raises(ConfigError, match="cannot read file"):
        graylib.publish(store, tmp_path / "missing.toml")
    assert store.head_revision() == 0


def test_a_refused_change_publishes_nothing(store: SQLiteStore, tmp_path: Path) -> None:
    graylib.publish(store, write(tmp_path, "a.toml", rules_text("smoke", "v1")))
    unapproved = rules_text("canary-node", "v2", approved=False)
    with pytest.raises(PolicyError, match="needs 2 approvers"):
        graylib.publish(store, write(tmp_path, "b.toml", unapproved))
    skipping = rules_text("small-cluster", "v2")
    with pytest.raises(PolicyError, match="advances 2 steps"):
        graylib.publish(store, write(tmp_path, "c.toml", skipping))
    assert store.head_revision() == 1


def test_the_first_publish_is_planned_against_what_the_fleet_runs(store: SQLiteStore, tmp_path: Path) -> None:
    at_stage_three = write(tmp_path, "r.toml", rules_text("small-cluster", "v1"))
    with pytest.raises(PolicyError, match="must start at its first stage"):
        graylib.publish(store, at_stage_three)
    running = graylib.load_config(at_stage_three)
    assert graylib.publish(store, at_stage_three, running=running).number == 1


def test_of_two_publishes_checked_against_one_revision_only_the_first_wins(
    store: SQLiteStore, tmp_path: Path
) -> None:
    graylib.publish(store, write(tmp_path, "a.toml", rules_text("smoke", "v1")))
    first = prepare(store, write(tmp_path, "b.toml", rules_text("canary-node", "v2")))
    second = prepare(store, write(tmp_path, "c.toml", rules_text("smoke", "v3", note="other")))
    assert commit(store, first).number == 2
    with pytest.raises(ConflictError, match=r"revision 2 was published meanwhile.*plan again"):
        commit(store, second)
    assert store.head_revision() == 2


def test_a_version_never_names_two_texts(store: SQLiteStore, tmp_path: Path) -> None:
    graylib.publish(store, write(tmp_path, "a.toml", rules_text("smoke", "v1")))
    with pytest.raises(ConflictError, match="version 'v1' already names another text"):
        graylib.publish(store, write(tmp_path, "b.toml", rules_text("smoke", "v1", note="edited")))
    assert store.head_revision() == 1


def test_publishing_the_current_text_again_changes_nothing(store: SQLiteStore, tmp_path: Path) -> None:
    path = write(tmp_path, "a.toml", rules_text("smoke", "v1"))
    first = graylib.publish(store, path)
    assert graylib.publish(store, path) == first
    assert store.head_revision() == 1


def test_rollback_republishes_the_previous_text_as_a_new_revision(store: SQLiteStore, tmp_path: Path) -> None:
    one = graylib.publish(store, write(tmp_path, "a.toml", rules_text("smoke", "v1")))
    graylib.publish(store, write(tmp_path, "b.toml", rules_text("canary-node", "v2")))
    back = graylib.rollback(store, by="oncall")
    assert (back.number, back.rollback_of, back.version, back.published_by) == (3, 1, "v1", "oncall")
    assert back.text == one.text and back.digest == one.digest
    assert [r.number for r in graylib.history(store)] == [3, 2, 1]


def test_a_narrowing_rollback_needs_no_approvals(store: SQLiteStore, tmp_path: Path) -> None:
    graylib.publish(store, write(tmp_path, "a.toml", rules_text("smoke", "v1")))
    graylib.publish(store, write(tmp_path, "b.toml", rules_text("canary-node", "v2")))
    graylib.publish(store, write(tmp_path, "c.toml", rules_text("smoke", "v3", approved=False)))
    graylib.publish(store, write(tmp_path, "d.toml", rules_text("canary-node", "v4")))
    back = graylib.rollback(store)  # to revision 3: back to smoke, whose text has no approvals
    assert (back.number, back.rollback_of, back.approvers) == (5, 3, ())


def test_a_widening_rollback_needs_approvals(store: SQLiteStore, tmp_path: Path) -> None:
    unapproved_canary = write(tmp_path, "a.toml", rules_text("canary-node", "v1", approved=False))
    graylib.publish(store, unapproved_canary, running=graylib.load_config(unapproved_canary))
    graylib.publish(store, write(tmp_path, "b.toml", rules_text("smoke", "v2", approved=False)))
    with pytest.raises(PolicyError, match="needs 2 approvers"):
        graylib.rollback(store, to=1)
    assert store.head_revision() == 2


def test_rollbacks_that_cannot_be_change_nothing(store: SQLiteStore, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing is published"):
        graylib.rollback(store)
    graylib.publish(store, write(tmp_path, "a.toml", rules_text("smoke", "v1")))
    with pytest.raises(ValueError, match="no revision before it"):
        graylib.rollback(store)
    with pytest.raises(ValueError, match="revision 1 is the current revision"):
        graylib.rollback(store, to=1)
    with pytest.raises(ValueError, match="there is no revision 7"):
        graylib.rollback(store, to=7)
    assert store.head_revision() == 1


def test_a_json_revision_keeps_its_format(store: SQLiteStore) -> None:
    document = make_config({"rollout": {**BASE_RULE["rollout"], "stage": "smoke"}})
    rev = graylib.publish(store, RulesText(json.dumps(document), "json", "rules.json"))
    assert rev.format == "json"
    assert json.loads(rev.text) == document
