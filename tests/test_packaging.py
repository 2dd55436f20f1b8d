"""What a user downloads: the wheel and the source distribution are built here, then opened and checked.

The sdist must carry everything its own tests read (helpers, fixtures, examples, docs, benchmarks), so that
``pytest`` collects from an unpacked copy; the wheel must carry the licence and its SPDX expression; and the
README, which is also the package's description on an index page, must not point at files by relative
links that break there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# What the tests read from outside src/; every file under these goes into the sdist.
SHIPPED_TREES = ("tests", "examples", "docs", "benchmarks")
NOT_SHIPPED = re.compile(r"(^|/)(__pycache__|\.hypothesis|results)(/|$)|\.py[cod]$")


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sdist, wheel), built as ``python -m build`` builds them: the wheel from the unpacked sdist."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # A deprecated form in pyproject.toml (a licence table, a licence classifier) is only a warning here.
    assert "Deprecat" not in done.stdout + done.stderr, done.stdout + done.stderr
    (sdist,) = out.glob("graylib-*.tar.gz")
    (wheel,) = out.glob("graylib-*.whl")
    return sdist, wheel


def _sdist_names(sdist: Path) -> set[str]:
    """The sdist's file names, relative to its top directory."""
    with tarfile.open(sdist) as tar:
        return {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}


def test_license_file_is_the_apache_2_0_text() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert "APPENDIX: How to apply the Apache License to your work." in text
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0"  # an SPDX expression, not the deprecated table
    assert project["license-files"] == ["LICENSE"]
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]


def test_wheel_declares_its_license_and_ships_its_data(dists: tuple[Path, Path]) -> None:
    _, wheel = dists
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        headers = whl.read(metadata).decode()
    assert "License-Expression: Apache-2.0" in headers.splitlines()
    assert "License-File: LICENSE" in headers.splitlines()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "graylib/py.typed" in names
    assert any(n.startswith("graylib/stores/") and n.endswith(".lua") for n in names)
    assert not any(n.startswith(("tests/", "benchmarks/", "examples/")) for n in names)


def test_sdist_carries_every_file_the_tests_read(dists: tuple[Path, Path]) -> None:
    sdist, _ = dists
    names = _sdist_names(sdist)
    wanted = {
        path.relative_to(ROOT).as_posix()
        for tree in SHIPPED_TREES
        for path in (ROOT / tree).rglob("*")
        if path.is_file() and not NOT_SHIPPED.search(path.relative_to(ROOT).as_posix())
    }
    wanted |= {"LICENSE", "README.md", "CHANGELOG.md", "mkdocs.yml", "pyproject.toml"}
    assert wanted - names == set()
    assert not [n for n in names if NOT_SHIPPED.search(n)]


@pytest.mark.slow
def test_sdist_tests_collect(dists: tuple[Path, Path], tmp_path: Path) -> None:
    """Unpacked anywhere, the sdist's own tests are all found and imported without an error."""
    sdist, _ = dists
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path, filter="data")
    (top,) = tmp_path.iterdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        check=False,
        cwd=top,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    counted = re.search(r"^(\d+) tests? collected", done.stdout, re.MULTILINE)
    assert counted, done.stdout[-3000:]
    assert int(counted.group(1)) > 500
    # The tests came from the unpacked copy, not from this checkout.
    assert "tests/test_packaging.py::" in done.stdout


# -- the README as an index page shows it -------------------------------------------------------------------

_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def test_readme_has_no_relative_links() -> None:
    """On a package index page a relative link points nowhere; files are named as paths instead."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    relative = [
        target
        for image, _, target in _LINK.findall(readme)
        if not image and not target.startswith(("#", "https://", "http://"))
    ]
    assert relative == []


_PIP_INSTALL = re.compile(r"pip install(?: -q)?(?: -e)? ('?)([^\s']+)\1")


@pytest.mark.parametrize("page", ["README.md", "docs/index.md"])
def test_install_commands_name_a_checkout_or_a_built_wheel(page: str) -> None:
    """graylib is not on a package index: every install line installs this source tree or a wheel built
    from it, with extras that exist."""
    text = (ROOT / page).read_text(encoding="utf-8")
    targets = _PIP_INSTALL.findall(text)
    assert targets, f"{page} shows no install command"
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    for _, target in targets:
        found = re.fullmatch(r"(\.|dist/graylib-\S*\.whl)(?:\[([\w,-]+)\])?", target)
        assert found, f"{page}: 'pip install {target}' does not install from a checkout or a built wheel"
        named = set(found.group(2).split(",")) if found.group(2) else set()
        assert named <= extras, f"{page}: no such extra {named - extras} in pyproject.toml"
