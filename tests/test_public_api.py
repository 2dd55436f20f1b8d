from __future__ import annotations

import subprocess
import sys

import graylib


def test_all_is_sorted_and_exactly_the_public_surface() -> None:
    assert list(graylib.__all__) == sorted(graylib.__all__)
    public = {name for name in vars(graylib) if not name.startswith("_")}
    # Submodules imported as a side effect are not part of the surface.
    modules = {name for name in public if type(getattr(graylib, name)).__name__ == "module"}
    assert public - modules == set(graylib.__all__)


def test_design_names_are_exported() -> None:
    for name in (
        "Client",
        "Context",
        "Decision",
        "Reason",
        "load_config",
        "ConfigError",
        "MemoryStore",
        "SQLiteStore",
        "RedisStore",
    ):
        assert hasattr(graylib, name), name


def test_reason_has_the_contract_members() -> None:
    names = {
        "APPLIES_ALLOWLISTED",
        "APPLIES_ROLLOUT",
        "UNKNOWN_RULE",
        "KILLED",
        "NOT_ACTIVE",
        "DENYLISTED",
        "PAYMENT_TYPE",
        "REGION",
        "NOT_ELIGIBLE",
        "OUT_OF_STAGE",
        "OUT_OF_ROLLOUT",
        "LIMIT_REACHED",
        "SHADOW",
        "ERROR",
    }
    assert names <= set(graylib.Reason.__members__)


def test_import_starts_no_thread() -> None:
    code = "import threading, graylib; print(threading.active_count())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "1"


def test_py_typed_is_shipped() -> None:
    from importlib.resources import files

    assert files("graylib").joinpath("py.typed").is_file()
