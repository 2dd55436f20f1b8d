"""The documentation's examples are run, so they cannot drift from the code.

Markers (an HTML comment on the line before a fenced block, invisible in the rendered page):

- ``<!-- example: valid -->`` before a ```toml (or ```json) block: a complete config that ``load_config``
  accepts.
- ``<!-- example: valid, base -->``: the same, and the base that fragments in the same file build on.
- ``<!-- example: valid fragment -->``: top-level keys the block does not set come from the base.
- ``<!-- example: invalid, expect: MESSAGE -->`` / ``<!-- example: invalid fragment, expect: MESSAGE -->``:
  ``load_config`` raises ``ConfigError`` and MESSAGE is exactly one of its problems.
- ``<!-- example: skip -->``: shown for reading only (a partial table, a format sketch).
- ``<!-- example: run -->`` before a ```python block: executed from the repository root; a ``print``
  line ending in ``# expected output`` must print exactly that.
- ``<!-- example: run, standalone -->``: the same, executed in an empty temporary directory, as a user runs
  it right after installing (it may read no file of the repository).
- ``<!-- example: pytest -->`` before a ```python block: a test module, run by pytest in an empty temporary
  directory; every test in it must pass, and there must be at least one.

Every ```toml and ```json block must carry a marker and every ```python block is at least compiled, so an
unchecked snippet cannot slip in. The README quickstart runs as a user would run it: standalone.
"""

from __future__ import annotations

import ast
import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graylib import ConfigError, load_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"<!--\s*example:\s*(.*?)\s*-->\s*$")
_EXPECT = re.compile(r"^(valid|invalid)(?: (fragment))?(?:, (base))?(?:, expect: (.*))?$")


class Block:
    """One fenced code block, with the example marker on the line before it (if any)."""

    def __init__(self, page: Path, lang: str, body: str, line: int, marker: str) -> None:
        self.page = page
        self.lang = lang
        self.body = body
        self.line = line
        self.marker = marker

    @property
    def id(self) -> str:
        return f"{self.page.name}:{self.line}"


def _blocks(page: Path) -> Iterator[Block]:
    text = page.read_text(encoding="utf-8")
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        found = _MARKER.search(before)
        yield Block(page, match.group(1), match.group(2), line, found.group(1) if found else "")


BLOCKS = [b for page in PAGES if page.exists() for b in _blocks(page)]
TOML = [b for b in BLOCKS if b.lang == "toml"]
JSON = [b for b in BLOCKS if b.lang == "json"]
PYTHON = [b for b in BLOCKS if b.lang == "python"]


def _parse_marker(block: Block) -> tuple[bool, bool, bool, str]:
    """(valid, fragment, base, expected message)."""
    found = _EXPECT.match(block.marker)
    assert found, f"{block.id}: unknown example marker {block.marker!r}"
    valid = found.group(1) == "valid"
    message = found.group(4) or ""
    assert valid != bool(message), f"{block.id}: an invalid example must say what it expects (and only then)"
    return valid, bool(found.group(2)), bool(found.group(3)), message


def _base(page: Path) -> dict[str, Any]:
    bases = [b for b in TOML if b.page == page and b.marker.endswith(", base")]
    assert len(bases) == 1, f"{page.name}: fragments need exactly one '<!-- example: valid, base -->' block"
    return tomllib.loads(bases[0].body)


def _document(block: Block, fragment: bool) -> str:
    """The text to load: the block itself, or a fragment completed from its page's base."""
    if not fragment:
        return block.body
    assert block.lang == "toml", f"{block.id}: only TOML blocks can be fragments"
    data = tomllib.loads(block.body)
    for key, value in _base(block.page).items():
        data.setdefault(key, value)
    return _dump(data)


def _load(text: str, suffix: str, tmp_path: Path) -> None:
    """Load as a user would: from a file."""
    path = tmp_path / f"rules.{suffix}"
    path.write_text(text, encoding="utf-8")
    load_config(path)


def _dump(data: Any) -> str:
    """Enough of a TOML writer for documentation configs: inline tables and arrays, one key per line."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in data.items()]
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else '"' + key.replace('"', '\\"') + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, (dt.date, dt.time)):  # TOML's dates, times and datetimes (a subclass of date)
        return value.isoformat()
    return repr(value)


# -- markers are present and well formed --------------------------------------------------------------------


def test_docs_have_examples() -> None:
    assert any(b.marker.startswith("valid") for b in TOML)
    assert any(b.marker.startswith("invalid") for b in TOML)


@pytest.mark.parametrize("block", TOML + JSON, ids=lambda b: b.id)
def test_every_config_block_is_marked(block: Block) -> None:
    assert block.marker, (
        f"{block.id}: mark the block with <!-- example: valid --> (or invalid, expect: ..., or skip)"
    )


# -- configs ------------------------------------------------------------------------------------------------


CONFIGS = [b for b in TOML + JSON if b.marker and b.marker != "skip"]


@pytest.mark.parametrize("block", CONFIGS, ids=lambda b: b.id)
def test_config_example(block: Block, tmp_path: Path) -> None:
    valid, fragment, _, message = _parse_marker(block)
    text = _document(block, fragment)
    if valid:
        _load(text, block.lang, tmp_path)
        return
    with pytest.raises(ConfigError) as info:
        _load(text, block.lang, tmp_path)
    assert message in info.value.problems, f"{block.id}: {message!r} is not one of:\n{info.value}"


def test_the_toml_writer_round_trips() -> None:
    text = (ROOT / "examples" / "rules.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert tomllib.loads(_dump(data)) == data


# -- Python -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.id)
def test_python_block_compiles(block: Block) -> None:
    compile(block.body, block.id, "exec")


RUNNABLE = [b for b in PYTHON if b.marker in ("run", "run, standalone")]


def _expected_output(code: str) -> list[str]:
    """The comment at the end of each ``print(...)`` statement, in source order (no loops, please)."""
    lines = code.splitlines()
    calls = [
        node
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "print"
    ]
    out = []
    for node in sorted(calls, key=lambda n: n.lineno):
        last = lines[(node.end_lineno or node.lineno) - 1]
        assert "#" in last, f"print on line {node.lineno} does not say what it prints"
        out.append(last.split("#", 1)[1].strip())
    return out


def _run(code: str, cwd: Path) -> list[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [line.rstrip() for line in done.stdout.splitlines()]


@pytest.mark.parametrize("page", ["README.md", "index.md"])
def test_quickstart_runs_after_a_plain_install(page: str) -> None:
    """The first runnable example of the README and of the docs' home page needs nothing but graylib."""
    blocks = [b for b in RUNNABLE if b.page.name == page]
    assert blocks, f"{page}: mark the quickstart with <!-- example: run, standalone -->"
    first = blocks[0]
    assert first.marker == "run, standalone", f"{first.id}: the quickstart must run from an empty directory"
    assert _expected_output(first.body), "the quickstart shows its output in # comments"


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.id)
def test_python_example_prints_what_it_says(block: Block, tmp_path: Path) -> None:
    cwd = tmp_path if block.marker == "run, standalone" else ROOT
    assert _run(block.body, cwd) == _expected_output(block.body)


PYTESTS = [b for b in PYTHON if b.marker == "pytest"]


@pytest.mark.parametrize("block", PYTESTS, ids=lambda b: b.id)
def test_pytest_example_passes(block: Block, tmp_path: Path) -> None:
    (tmp_path / "test_example.py").write_text(block.body, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "test_example.py"],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b[1-9]\d* passed\b", done.stdout) and " failed" not in done.stdout, done.stdout


def test_the_docs_have_a_pytest_example() -> None:
    assert PYTESTS, "docs/integration.md shows a pytest example of graylib.testing"


# -- pictures -----------------------------------------------------------------------------------------------

_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pictures_exist_and_say_what_they_show(page: Path) -> None:
    for alt, target in _IMAGE.findall(page.read_text(encoding="utf-8")):
        assert (page.parent / target).is_file(), f"{page.name}: {target} does not exist"
        assert len(alt) > 40, f"{page.name}: {target}: say in the alternative text what the picture shows"


def test_rollout_picture_is_drawn_from_the_example_rules(tmp_path: Path) -> None:
    """docs/images/make_rollout.py still runs against the current config API and the example file."""
    out = tmp_path / "rollout.png"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "images" / "make_rollout.py"), str(out)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
