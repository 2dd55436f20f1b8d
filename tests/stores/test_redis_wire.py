"""The RESP packing of a command: the fast path for ASCII text and integers sends exactly what the general
path sends, and anything else still goes the general way."""

from __future__ import annotations

import pytest

from graylib.stores._redis_wire import _pack_any, pack

CLAIM: list[str | int | bytes] = [
    b"EVALSHA",
    b"f" * 40,
    2,
    "{graylib:rule}:kill",
    "{graylib:rule}:rec:r:pay-1",
    "0",
    5_400,
    "",
]


@pytest.mark.parametrize(
    "extra",
    [[], ["ünïcode"], [True], [b"\xff\x00"], ["a\x00b\r\n"], [-7], ["9" * 500], ["😀"]],
    ids=repr,
)
def test_fast_and_general_packing_agree(extra: list[str | int | bytes]) -> None:
    parts: list[str | int | bytes] = [*CLAIM, *extra]
    assert pack(parts) == _pack_any(parts)


def test_a_lone_surrogate_is_refused_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        pack([*CLAIM, "\ud800"])  # a text a JSON body may carry


def test_the_packed_command_is_resp() -> None:
    assert pack(["GET", "k", 1]) == b"*3\r\n$3\r\nGET\r\n$1\r\nk\r\n$1\r\n1\r\n"
