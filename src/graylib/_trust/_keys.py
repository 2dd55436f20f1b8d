"""Key texts and key files: ``ed25519:<base64>`` public keys, key ids, and private key files.

A public key is written ``ed25519:<base64 of its 32 bytes>`` (a trust file's ``key``); its key id is
``ed25519:`` and the first 16 hex digits of the sha256 of those bytes, short enough to read in a signature
line, and only ever used to find the full key, which then verifies the signature.

A private key file is a small TOML document (``name``, ``private_key``, ``public_key``), created by
``write_private_key`` with mode 0600 in one step (``O_CREAT | O_EXCL``), never over an existing file, and
read back by ``read_private_key``, which says what is wrong with a damaged or truncated one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from pathlib import Path

import attrs
import tomli as tomllib

from .._errors import ConfigError
from ._ed25519 import KEY_BYTES, public_of

__all__ = [
    "KEY_PREFIX",
    "PrivateKey",
    "check_name",
    "decode_key",
    "encode_key",
    "key_id",
    "read_private_key",
    "write_private_key",
]

KEY_PREFIX = "ed25519:"
MAX_NAME = 128
_KEY_FILE_BYTES = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def encode_key(raw: bytes) -> str:
    """``ed25519:<base64>`` of 32 raw key bytes."""
    return KEY_PREFIX + base64.b64encode(raw).decode("ascii")


_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def decode_key(text: object, what: str = "key") -> bytes:
    """The 32 bytes of an ``ed25519:<base64>`` key text; ``ValueError`` saying what is wrong otherwise."""
    if not isinstance(text, str):
        msg = f"must be a {what} text 'ed25519:<base64>' (got {type(text).__name__})"
        raise ValueError(msg)
    if not text.startswith(KEY_PREFIX):
        msg = f"must start with 'ed25519:' (got {text[:20]!r})"
        raise ValueError(msg)
    body = text[len(KEY_PREFIX) :]
    try:
        # Checked here, not left to the decoder: what it forgives of bad padding differs between Pythons.
        if len(body) % 4 or not _BASE64.fullmatch(body):
            raise binascii.Error(body)
        raw = base64.b64decode(body.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        msg = f"is not valid base64 after 'ed25519:' (got {body[:20]!r})"
        raise ValueError(msg) from None
    if len(raw) != KEY_BYTES:
        msg = f"must hold {KEY_BYTES} bytes, an ed25519 {what}; it holds {len(raw)} (truncated or not a key)"
        raise ValueError(msg)
    return raw


def key_id(public: bytes) -> str:
    """The short id a signature line names its key by."""
    return KEY_PREFIX + hashlib.sha256(public).hexdigest()[:16]


def check_name(name: object) -> str | None:
    """Why ``name`` cannot name an approver, or None when it can."""
    if not isinstance(name, str):
        return f"must be a string (got {type(name).__name__})"
    if not name.strip():
        return "must not be empty"
    if len(name) > MAX_NAME:
        return f"must be at most {MAX_NAME} characters (got {len(name)})"
    if _CONTROL.search(name) or not name.isprintable():
        return f"must be printable text without control characters (got {name[:40]!r})"
    return None


@attrs.frozen(repr=False)
class PrivateKey:
    """An approver's signing key, as read from a private key file. Its repr never shows the secret."""

    name: str
    private: bytes
    public: bytes

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def __repr__(self) -> str:
        return f"PrivateKey(name={self.name!r}, key_id={self.key_id!r})"


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_private_key(path: str | os.PathLike[str], name: str, private: bytes) -> PrivateKey:
    """Write a new private key file with mode 0600; ``FileExistsError`` when ``path`` exists.

    The file is created and given its mode in one ``open`` (``O_CREAT | O_EXCL``, mode 0600), so the key is
    never readable by others, not even for an instant, and an existing key is never replaced.
    """
    problem = check_name(name)
    if problem is not None:
        msg = f"approver name {problem}"
        raise ValueError(msg)
    key = PrivateKey(name=name, private=private, public=public_of(private))
    text = (
        f"# graylib ed25519 private key of {name}: keep it secret, on this machine only\n"
        f"name = {_toml_string(name)}\n"
        f'private_key = "{encode_key(private)}"\n'
        f'public_key = "{encode_key(key.public)}"\n'
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise
    return key


def read_private_key(path: str | os.PathLike[str]) -> PrivateKey:
    """A private key file's key; ``ConfigError`` naming the file and every problem found.

    Like ssh, a key file that others may read or write is refused: the key may no longer be its owner's.
    """
    source = os.fspath(path)
    try:
        with Path(path).open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            data = file.read(_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError([f"cannot read key file: {exc}"], source=source) from exc
    if os.name == "posix" and mode & 0o077:
        msg = (
            f"readable or writable by others (mode {mode & 0o777:04o}): a private key must be its owner's "
            f"alone; chmod 600 {source} if no one else had it, else make a new key"
        )
        raise ConfigError([msg], source=source)
    if len(data) > _KEY_FILE_BYTES:
        raise ConfigError([f"larger than {_KEY_FILE_BYTES} bytes: not a graylib key file"], source=source)
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([f"not a graylib key file ({exc})"], source=source) from exc
    problems = [f"{key}: unknown key" for key in table if key not in ("name", "private_key", "public_key")]
    name = table.get("name")
    problem = check_name(name) if "name" in table else "required"
    if problem is not None:
        problems.append(f"name: {problem}")
    private = public = None
    for field in ("private_key", "public_key"):
        if field not in table:
            problems.append(f"{field}: required")
            continue
        try:
            raw = decode_key(table[field], what=field.replace("_", " "))
        except ValueError as exc:
            problems.append(f"{field}: {exc}")
            continue
        if field == "private_key":
            private = raw
        else:
            public = raw
    if private is not None and public is not None and public_of(private) != public:
        problems.append("public_key: does not belong to private_key (the file was altered)")
    if problems or private is None or public is None or not isinstance(name, str):
        raise ConfigError(problems, source=source)
    return PrivateKey(name=name, private=private, public=public)
