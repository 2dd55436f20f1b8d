from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import mmh3
from hypothesis import given
from hypothesis import strategies as st

from graylib import bucket
from graylib._bucketing import BUCKETS, threshold

DOC = Path(__file__).resolve().parents[1] / "docs" / "bucketing.md"


def _table(name: str) -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(rf"<!-- {name}:start -->(.*?)<!-- {name}:end -->", text, re.S)
    assert block, f"docs/bucketing.md has no {name} table"
    rows = [line for line in block.group(1).strip().splitlines()[2:] if line.startswith("|")]
    return [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows]


def test_documented_vectors_match() -> None:
    rows = _table("vectors")
    assert len(rows) >= 6
    for salt, _account, key, raw, expected in rows:
        account = key[len(salt) + 1 :]  # the key column keeps trailing spaces exactly
        assert mmh3.hash(key, 0, False) == int(raw)
        assert bucket(salt, account) == int(expected), (salt, account)


def test_documented_thresholds_match() -> None:
    for percent, expected in _table("thresholds"):
        assert threshold(float(percent)) == int(expected)


@given(st.text(min_size=1), st.text(), st.integers(0, 100), st.integers(0, 100))
def test_raising_a_percentage_never_removes_an_account(salt: str, account: str, p: int, q: int) -> None:
    low, high = sorted((p, q))
    b = bucket(salt, account)
    if b < threshold(low):
        assert b < threshold(high)
    if b >= threshold(high):
        assert b >= threshold(low)


@given(st.text(min_size=1), st.text())
def test_bucket_in_range(salt: str, account: str) -> None:
    assert 0 <= bucket(salt, account) < BUCKETS


def test_buckets_are_uniform() -> None:
    counts = [0] * 10
    n = 200_000
    for i in range(n):
        counts[bucket("uniformity", f"acct-{i}") * 10 // BUCKETS] += 1
    for tenth in counts:
        assert abs(tenth / n - 0.10) <= 0.01, counts


def test_salts_draw_different_accounts() -> None:
    a = {i for i in range(20_000) if bucket("rule-a", f"u{i}") < threshold(5)}
    b = {i for i in range(20_000) if bucket("rule-b", f"u{i}") < threshold(5)}
    overlap = len(a & b) / len(a)
    assert overlap < 0.15  # independent draws overlap by about 5%


def test_same_bucket_in_processes_with_different_hash_seeds() -> None:
    code = "import graylib; print([graylib.bucket('s', f'acct-{i}') for i in range(50)])"
    here = [bucket("s", f"acct-{i}") for i in range(50)]
    src = str(Path(__file__).resolve().parents[1] / "src")
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": src}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=60
        )
        assert out.stdout.strip() == str(here)
