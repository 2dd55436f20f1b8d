"""A SQLiteStore notices when its file is no longer the file at its path, and fails closed.

A running process holds its database open. If the file is deleted (or replaced) meanwhile, that process
would count on into a file nobody else sees, while a new worker creates a fresh, empty one at the path:
twice the budget, and no error anywhere. Every transaction checks that the path still names the file it
opened (device and inode).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from graylib import StoreError
from graylib.stores import ReserveStatus, SQLiteStore
from tests.stores.support import counter, request

TOTAL = counter("total", count=2)

NEW_WORKER = """
import sys
from graylib.stores import CounterSpec, ReserveRequest, SQLiteStore
store = SQLiteStore(sys.argv[1])
result = store.reserve(ReserveRequest("rule-1", "worker-pay", "fp", 1, (CounterSpec("total", 0, 2, None),),
                                      "", 1_700_000_040.0))
print(result.status.value)
store.close()
"""


def _delete(path: Path, *, with_journal: bool) -> None:
    path.unlink()
    if with_journal:
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def test_a_deleted_file_fails_closed_while_a_new_worker_starts_a_fresh_one(tmp_path: Path) -> None:
    path = tmp_path / "graylib.db"
    running = SQLiteStore(path)
    assert running.reserve(request(TOTAL, amount=1)).status is ReserveStatus.GRANTED
    _delete(path, with_journal=True)  # rm graylib.db*
    worker = subprocess.run(
        [sys.executable, "-c", NEW_WORKER, str(path)], capture_output=True, text=True, timeout=60, check=True
    )
    assert worker.stdout.strip() == "granted"  # the new worker counts in its new file: 1 of 2
    # The running process must not grant a second payment from its unlinked file's budget.
    with pytest.raises(StoreError, match="no longer the file"):
        running.reserve(request(TOTAL, amount=1))
    with pytest.raises(StoreError, match="no longer the file"):
        running.release("rule-1", "worker-pay", 0.0)
    with pytest.raises(StoreError, match="no longer the file"):
        running.kill_switches()
    running.close()


def test_a_deleted_database_file_alone_fails_closed(tmp_path: Path) -> None:
    """(A new worker meeting the old file's WAL beside a new database gets SQLite's own I/O error.)"""
    path = tmp_path / "graylib.db"
    running = SQLiteStore(path)
    assert running.reserve(request(TOTAL, amount=1)).status is ReserveStatus.GRANTED
    _delete(path, with_journal=False)
    with pytest.raises(StoreError, match="no longer the file"):
        running.reserve(request(TOTAL, amount=1))
    running.close()


def test_a_deleted_file_is_not_created_again_by_a_new_thread(tmp_path: Path) -> None:
    path = tmp_path / "graylib.db"
    store = SQLiteStore(path)
    assert store.reserve(request(TOTAL, amount=1)).status is ReserveStatus.GRANTED
    _delete(path, with_journal=True)
    errors: list[BaseException] = []

    def claim() -> None:
        try:
            store.reserve(request(TOTAL, amount=1))
        except StoreError as exc:
            errors.append(exc)

    thread = threading.Thread(target=claim)
    thread.start()
    thread.join(timeout=30)
    assert len(errors) == 1
    assert "no longer the file" in str(errors[0]) or "cannot open" in str(errors[0])
    assert not path.exists()  # the thread's new connection did not leave an empty database behind
    store.close()


def test_a_file_moved_aside_and_replaced_by_a_copy_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "graylib.db"
    store = SQLiteStore(path)
    assert store.reserve(request(TOTAL, amount=1)).status is ReserveStatus.GRANTED
    shutil.copy(path, tmp_path / "copy.db")
    os.replace(tmp_path / "copy.db", path)
    with pytest.raises(StoreError, match="no longer the file"):
        store.reserve(request(TOTAL, amount=1))
    store.close()


@pytest.mark.parametrize("name", ["plain.db", "with space?and#hash%.db"])
def test_a_new_thread_reopens_paths_a_uri_would_misread(tmp_path: Path, name: str) -> None:
    """'//tmp/x.db' (from sqlite:////tmp/x.db), '?', '#' and '%' must reach SQLite as one path."""
    path = "/" + str(tmp_path / name)  # a leading '//', as sqlite:////abs/path gives
    store = SQLiteStore(path)
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(store.stats("rule-1")))
    thread.start()
    thread.join(timeout=30)
    assert len(results) == 1
    store.close()


def test_initialise_adopts_the_file_now_at_the_path(tmp_path: Path) -> None:
    """After a deleted file was replaced by a new one, an explicit initialise makes this store count there
    (and nowhere else): the new worker sees its claims."""
    path = tmp_path / "graylib.db"
    running = SQLiteStore(path)
    assert running.reserve(request(TOTAL, amount=1)).status is ReserveStatus.GRANTED
    _delete(path, with_journal=True)
    worker = SQLiteStore(path)
    assert worker.reserve(request(TOTAL, amount=1)).status is ReserveStatus.GRANTED
    with pytest.raises(StoreError, match="no longer the file"):
        running.reserve(request(TOTAL, amount=1))
    assert running.initialise() == worker.initialise()
    assert running.reserve(request(TOTAL, amount=1)).status is ReserveStatus.GRANTED
    assert worker.reserve(request(TOTAL, amount=1)).status is ReserveStatus.LIMIT_REACHED  # 2 of 2, shared
    running.close()
    worker.close()
