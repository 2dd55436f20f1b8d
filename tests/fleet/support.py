"""Rules texts for the publishing and following tests: the example rules at a chosen stage and version."""

from __future__ import annotations

from pathlib import Path

EXAMPLE = (Path(__file__).parents[2] / "examples" / "rules.toml").read_text(encoding="utf-8")
STAGES = ("smoke", "canary-node", "small-cluster", "big-node", "everywhere-5", "full")


def rules_text(stage: str = "smoke", version: str = "v1", *, approved: bool = True, note: str = "") -> str:
    """The example rules at ``stage`` with ``version``; without approvals when ``approved`` is False."""
    assert stage in STAGES
    text = EXAMPLE.replace('stage = "small-cluster"', f'stage = "{stage}"')
    text = text.replace('version = "2025-01-16.1"', f'version = "{version}"')
    if not approved:
        text = text.replace('approved_by = ["zhang.min", "wang.fang"]', "approved_by = []")
    return text + (f"# {note}\n" if note else "")


def write(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return str(path)
