from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def test_typing_all_is_sorted_and_exactly_its_public_surface() -> None:
    from graylib import typing

    assert list(typing.__all__) == sorted(typing.__all__)
    public = {name for name in vars(typing) if not name.startswith("_")}
    assert (
        public == set(typing.__all__) == {"AlertHook", "ReloadErrorHook", "ReloadHook", "Snapshot", "Store"}
    )


def test_import_graylib_makes_graylib_typing_reachable() -> None:
    code = "import graylib; print(graylib.typing.Store.__name__, graylib.typing.Snapshot.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["Store", "Snapshot"]


def test_typing_names_are_the_objects_the_library_uses() -> None:
    from graylib import _compile, stores, typing
    from graylib._runtime import _claims, _follow

    assert typing.Store is stores.Store is graylib.Store
    assert typing.Snapshot is _compile.Snapshot
    assert typing.AlertHook is _claims.AlertHook
    assert (typing.ReloadHook, typing.ReloadErrorHook) == (_follow.ReloadHook, _follow.ReloadErrorHook)


def test_client_snapshots_and_local_stores_match_the_typing_names(tmp_path: Path) -> None:
    from graylib.typing import Snapshot, Store
    from tests.helpers import make_config

    client = graylib.Client(make_config())
    try:
        assert isinstance(client.snapshot, Snapshot)
    finally:
        client.close()
    stores: list[Store] = [graylib.MemoryStore(), graylib.SQLiteStore(tmp_path / "s.db")]
    for store in stores:
        assert isinstance(store, Store)
        store.close()


def test_typing_docstring_example_runs() -> None:
    import doctest

    from graylib import typing

    result = doctest.testmod(typing)
    assert (result.failed, result.attempted) == (0, 5)


def test_a_subclass_of_client_keeps_its_type_through_from_file_and_with(tmp_path: Path) -> None:
    """``from_file`` and ``with`` return ``Self``, so a service's own subclass stays typed as itself."""
    from typing_extensions import assert_type

    from tests.helpers import make_config

    class PaymentsClient(graylib.Client):
        pass

    path = tmp_path / "rules.json"
    path.write_text(json.dumps(make_config()))
    with PaymentsClient.from_file(path, cluster="sh-small") as client:
        assert_type(client, PaymentsClient)
        assert type(client) is PaymentsClient
