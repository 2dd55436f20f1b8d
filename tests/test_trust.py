"""Keys, signature lines, trust files and their verification: bad input is an error with its place, or a
signature that does not count with its reason; never a crash, never a counted signature."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graylib import ConfigError
from graylib._trust import (
    CorruptLine,
    NotCounted,
    PrivateKey,
    Signature,
    approve,
    check_signatures,
    encode_key,
    generate,
    parse_signatures,
    parse_trust,
    read_private_key,
    signatures_beside,
    write_private_key,
)

from .trust_support import trust_text

NOW = dt.datetime(2026, 1, 16, 8, 0, tzinfo=dt.timezone.utc)
DATA = b'version = "v2"\n# the exact bytes approvers reviewed\n'


def new_key(name: str) -> PrivateKey:
    private, public = generate()
    return PrivateKey(name=name, private=private, public=public)


ZHANG, WANG, LI = new_key("zhang.min"), new_key("wang.fang"), new_key("li.wei")
TRUST = parse_trust(trust_text(1, 2, [(k.name, encode_key(k.public)) for k in (ZHANG, WANG, LI)]).encode())


def line(key: PrivateKey, data: bytes = DATA, version: str = "v2", **kw: dt.datetime) -> str:
    return approve(data, key, version=version, now=kw.get("now", NOW), expires_at=kw.get("expires")).to_line()


def verdicts(*lines: str, data: bytes = DATA, author: str = "li.wei") -> list[tuple[str, NotCounted | None]]:
    sig = ("\n".join(lines) + "\n").encode()
    return [
        (c.approver, c.reason)
        for c in check_signatures(data, sig, TRUST, version="v2", author=author, now=NOW)
    ]


# -- private key files ---------------------------------------------------------------------------------------


def test_a_key_file_is_created_with_mode_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_private_key(tmp_path / "z.key", "zhang.min", ZHANG.private)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "z.key").stat().st_mode) == 0o600
    assert read_private_key(tmp_path / "z.key") == ZHANG


def test_a_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "z.key"
    path.write_text("precious")
    with pytest.raises(FileExistsError):
        write_private_key(path, "zhang.min", ZHANG.private)
    assert path.read_text() == "precious"


def test_a_key_file_never_follows_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    (tmp_path / "z.key").symlink_to(target)
    with pytest.raises(FileExistsError):
        write_private_key(tmp_path / "z.key", "zhang.min", ZHANG.private)
    assert not target.exists()


def test_the_secret_is_not_in_the_repr() -> None:
    secret = base64.b64encode(ZHANG.private).decode()
    assert secret not in repr(ZHANG) and "zhang.min" in repr(ZHANG)


def key_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "k.key"
    path.write_text(text)
    path.chmod(0o600)
    return path


GOOD_PRIVATE = encode_key(ZHANG.private)
GOOD_PUBLIC = encode_key(ZHANG.public)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f'name = "z"\nprivate_key = "{GOOD_PRIVATE[:30]}"\npublic_key = "{GOOD_PUBLIC}"\n',
            "private_key: is not valid base64",
        ),
        (
            f'name = "z"\nprivate_key = "{encode_key(ZHANG.private[:20])}"\npublic_key = "{GOOD_PUBLIC}"\n',
            "private_key: must hold 32 bytes, an ed25519 private key; it holds 20 (truncated or not a key)",
        ),
        (
            f'name = "z"\nprivate_key = "{GOOD_PRIVATE}"\npublic_key = "{encode_key(WANG.public)}"\n',
            "public_key: does not belong to private_key (the file was altered)",
        ),
        (f'name = "z"\nprivate_key = "{GOOD_PRIVATE}"\n', "public_key: required"),
        (f'private_key = 7\npublic_key = "{GOOD_PUBLIC}"\n', "private_key: must be a private key text"),
        (f'private_key = "{GOOD_PRIVATE}"\npublic_key = "{GOOD_PUBLIC}"\n', "name: required"),
        ('name = "z"\nprivate_key = "rsa:abc"\n', "private_key: must start with 'ed25519:'"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\n", "not a graylib key file"),
        ("x" * 5000, "larger than 4096 bytes: not a graylib key file"),
    ],
)
def test_a_damaged_key_file_says_what_is_wrong(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        read_private_key(key_file(tmp_path, text))
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems
    assert "k.key" in str(info.value)


def test_a_missing_key_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read key file"):
        read_private_key(tmp_path / "nope.key")


# -- signature lines -----------------------------------------------------------------------------------------


def test_a_line_round_trips_and_binds_every_field() -> None:
    text = line(ZHANG, expires=NOW + dt.timedelta(days=1))
    (parsed,) = parse_signatures(text.encode())
    assert isinstance(parsed, Signature) and parsed.to_line() == text
    assert verdicts(text) == [("zhang.min", None)]
    data = json.loads(text)
    for field, value in [
        ("signed_at", "2026-01-16T08:00:01Z"),
        ("expires_at", "2099-01-01T00:00:00Z"),
        ("config_version", "v3"),
        ("sha256", "0" * 64),
    ]:
        altered = json.dumps({**data, field: value})
        assert verdicts(altered) == [("zhang.min", NotCounted.BAD_SIGNATURE)], field
    without_expiry = json.dumps({k: v for k, v in data.items() if k != "expires_at"})
    assert verdicts(without_expiry) == [("zhang.min", NotCounted.BAD_SIGNATURE)]


def test_a_line_naming_another_approver_than_its_key_does_not_count() -> None:
    data = json.loads(line(ZHANG))
    assert verdicts(json.dumps({**data, "approver": "wang.fang"})) == [
        ("zhang.min", NotCounted.WRONG_APPROVER)
    ]


SIG = base64.b64encode(bytes(64)).decode()
BASE = {
    "approver": "zhang.min",
    "key_id": "ed25519:0123456789abcdef",
    "sha256": "a" * 64,
    "config_version": "v2",
    "signed_at": "2026-01-16T08:00:00Z",
    "signature": SIG,
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"approver": ', "not a signature line: Expecting value"),
        (b"[1, 2]", "not a signature line: not a JSON object (got list)"),
        (json.dumps({**BASE, "extra": 1}).encode(), "unknown field 'extra'"),
        (json.dumps({k: v for k, v in BASE.items() if k != "sha256"}).encode(), "missing sha256"),
        (
            b'{"approver": "a", ' + json.dumps(BASE).encode()[1:],
            "key 'approver' given more than once",
        ),
        (json.dumps({**BASE, "sha256": "A" * 64}).encode(), "sha256 must be 64 lowercase hex digits"),
        (json.dumps({**BASE, "key_id": "ed25519:xyz"}).encode(), "key_id must be 'ed25519:' and 16 hex"),
        (json.dumps({**BASE, "signature": SIG[:40]}).encode(), "signature must be the base64 of a 64-byte"),
        (json.dumps({**BASE, "signed_at": "yesterday"}).encode(), "signed_at: not an RFC 3339 date-time"),
        (json.dumps({**BASE, "signed_at": "2026-01-16T08:00:00"}).encode(), "signed_at must include a UTC"),
        (json.dumps({**BASE, "expires_at": 5}).encode(), "expires_at must be a date-time text (got int)"),
        (json.dumps({**BASE, "approver": "\ud800"}).encode(), "approver must be printable text"),
        (json.dumps({**BASE, "approver": ""}).encode(), "approver must not be empty"),
        (json.dumps({**BASE, "config_version": ["v2"]}).encode(), "config_version must be a text (got list)"),
        (b"[" * 100_000, "longer than 4096 bytes"),
        (b"[" * 4000, "not a signature line"),
        (b"\xff\xfe", "not UTF-8 text"),
    ],
)
def test_a_corrupt_line_is_reported_with_its_number_and_never_counts(raw: bytes, expected: str) -> None:
    sig = line(ZHANG).encode() + b"\n\n" + raw + b"\n" + line(WANG).encode()
    items = parse_signatures(sig)
    assert [i.line for i in items] == [1, 3, 4]
    corrupt = items[1]
    assert isinstance(corrupt, CorruptLine) and expected in corrupt.problem, corrupt
    checks = check_signatures(DATA, sig, TRUST, version="v2", now=NOW)
    assert [(c.line, c.reason) for c in checks] == [(1, None), (3, NotCounted.CORRUPT), (4, None)]


def test_a_huge_signature_file_is_read_to_its_limit_only() -> None:
    good = line(ZHANG).encode() + b"\n"
    sig = good + b" " * (1024 * 1024) + b"\n" + line(WANG).encode() + b"\n"
    checks = check_signatures(DATA, sig, TRUST, version="v2", now=NOW)
    assert [(c.line, c.reason) for c in checks] == [(0, NotCounted.CORRUPT), (1, None)]
    assert "larger than 1,048,576 bytes" in checks[0].detail


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600) | st.text(max_size=300).map(str.encode))
def test_no_bytes_make_a_signature_count_or_raise(junk: bytes) -> None:
    checks = check_signatures(DATA, junk, TRUST, version="v2", now=NOW)
    assert not any(c.counts for c in checks)


# -- verification --------------------------------------------------------------------------------------------


def test_each_reason_a_signature_does_not_count() -> None:
    stranger = new_key("chen.jie")
    other_wang = new_key("wang.fang")
    assert verdicts(
        line(ZHANG),
        line(LI),  # the author
        line(ZHANG),  # again
        line(stranger),
        line(other_wang),
        line(WANG, data=DATA + b" "),
        line(WANG, version="v1"),
        line(WANG, now=NOW - dt.timedelta(days=2), expires=NOW - dt.timedelta(days=1)),
        line(WANG, expires=NOW),  # expires now: no longer valid
    ) == [
        ("zhang.min", None),
        ("li.wei", NotCounted.AUTHOR),
        ("zhang.min", NotCounted.DUPLICATE),
        ("chen.jie", NotCounted.NOT_AN_APPROVER),
        ("wang.fang", NotCounted.UNKNOWN_KEY),
        ("wang.fang", NotCounted.OTHER_BYTES),
        ("wang.fang", NotCounted.OTHER_VERSION),
        ("wang.fang", NotCounted.EXPIRED),
        ("wang.fang", NotCounted.EXPIRED),
    ]


def test_the_author_is_recognised_whatever_the_case_or_spacing() -> None:
    assert verdicts(line(LI), author="  LI.Wei ") == [("li.wei", NotCounted.AUTHOR)]


def test_no_signature_file_counts_nothing() -> None:
    assert check_signatures(DATA, None, TRUST, version="v2", now=NOW) == ()


# -- trust files ---------------------------------------------------------------------------------------------

Z, W = encode_key(ZHANG.public), encode_key(WANG.public)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('version = "1"\nthreshold = 1\n', ["version: must be an integer (got '1')", "approvers: required"]),
        (
            f'version = 0\nthreshold = 0\n[[approvers]]\nname = "a"\nkey = "{Z}"\n',
            ["version: must be at least 1 (got 0)", "threshold: must be at least 1 (got 0)"],
        ),
        (
            f'version = 1\nthreshold = 3\n[[approvers]]\nname = "a"\nkey = "{Z}"\n'
            f'[[approvers]]\nname = "b"\nkey = "{W}"\n',
            [
                "threshold: must be at most the number of approvers, 2 (got 3): "
                "no change could ever be approved"
            ],
        ),
        (
            f'version = 1\nthreshold = 1\n[[approvers]]\nname = "Zhang.Min"\nkey = "{Z}"\n'
            f'[[approvers]]\nname = "zhang.min "\nkey = "{W}"\n',
            ["approvers[1].name: 'zhang.min ' is listed twice (also approvers[0])"],
        ),
        (
            f'version = 1\nthreshold = 1\n[[approvers]]\nname = "a"\nkey = "{Z}"\n'
            f'[[approvers]]\nname = "b"\nkey = "{Z}"\n',
            ["approvers[1].key: the same key as approvers[0]: one key, one approver"],
        ),
        (
            f'version = 1\nthreshold = 1\n[[approvers]]\nname = "a"\nkey = "{Z[:-10]}"\n',
            ["approvers[0].key: is not valid base64 after 'ed25519:'"],
        ),
        (
            f'version = 1\nthreshold = 1\n[[approvers]]\nname = "a"\n'
            f'key = "{encode_key(ZHANG.public[:31])}"\n',
            [
                "approvers[0].key: must hold 32 bytes, an ed25519 public key; "
                "it holds 31 (truncated or not a key)"
            ],
        ),
        (
            'version = 1\nthreshold = 1\n[[approvers]]\nnme = "a"\nkey = 5\n',
            [
                "approvers[0].nme: unknown key; did you mean 'name'?",
                "approvers[0].name: required",
                "approvers[0].key: must be a public key text 'ed25519:<base64>' (got int)",
            ],
        ),
        ("version = 1\nthreshold = 1\napprovers = []\n", ["approvers: must list at least one approver"]),
        (
            "version = 1\nthreshold = 1\napprovers = 7\nowner = 1\n",
            ["owner: unknown key", "approvers: must be an"],
        ),
        ("version = 1\nthreshold = 1\napprovers = [1]\n", ["approvers[0]: must be a table (got 1)"]),
        ("[[[", ["TOML syntax"]),
    ],
)
def test_a_bad_trust_file_reports_every_problem_with_its_path(text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_trust(text.encode(), source="trust.toml")
    for problem in expected:
        assert any(p.startswith(problem) for p in info.value.problems), (problem, info.value.problems)
    assert str(info.value).startswith("trust.toml: invalid configuration")


def test_a_trust_file_that_is_not_text_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        parse_trust(b"version = 1\xff", source="trust.toml")


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "z.key"
    write_private_key(path, "zhang.min", ZHANG.private)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"readable or writable by others \(mode 0644\)"):
        read_private_key(path)


def test_signatures_beside_a_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    assert signatures_beside(rules) is None
    (tmp_path / "rules.toml.sig").write_text(line(ZHANG) + "\n")
    assert signatures_beside(rules) == (line(ZHANG) + "\n").encode()


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='versionthreshold=[]{}"\n 0123456789approvers.keyname:ed25519', max_size=200))
def test_any_trust_text_is_a_trust_file_or_a_config_error(text: str) -> None:
    try:
        parse_trust(text.encode(), source="trust.toml")
    except ConfigError as exc:
        assert exc.problems
