"""The only user of the ``cryptography`` package: ed25519 key generation, signing and verification.

``cryptography`` is an optional extra (``pip install 'graylib[sign]'``), imported on first use, so graylib
loads and evaluates without it; a trust feature used without it raises ``SigningUnavailable`` naming the
extra. Keys cross this module as raw bytes (32 bytes each), signatures as 64 bytes.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from .._errors import GraylibError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "KEY_BYTES",
    "SIGNATURE_BYTES",
    "SigningUnavailable",
    "generate",
    "public_of",
    "require_signing",
    "sign",
    "verify",
]

KEY_BYTES = 32
"""Length of an ed25519 private key (its seed) and of a public key."""
SIGNATURE_BYTES = 64
"""Length of an ed25519 signature."""
EXTRA = "pip install 'graylib[sign]'"


class SigningUnavailable(GraylibError, ImportError):
    """Signatures were asked for but the ``cryptography`` package is not installed."""


def _ed25519() -> ModuleType:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        msg = f"ed25519 signatures need the 'cryptography' package: {EXTRA}"
        raise SigningUnavailable(msg) from exc
    return ed25519


def require_signing() -> None:
    """``SigningUnavailable`` (naming the extra) now, rather than at the first signature to check."""
    _ed25519()


def _serialization() -> ModuleType:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 - optional extra

    return serialization


def _raw_private(key: Ed25519PrivateKey) -> bytes:
    s = _serialization()
    return key.private_bytes(s.Encoding.Raw, s.PrivateFormat.Raw, s.NoEncryption())


def _raw_public(key: Ed25519PublicKey) -> bytes:
    s = _serialization()
    return key.public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)


def generate() -> tuple[bytes, bytes]:
    """A new key pair: (private key, public key), raw bytes."""
    key = _ed25519().Ed25519PrivateKey.generate()
    return _raw_private(key), _raw_public(key.public_key())


def public_of(private: bytes) -> bytes:
    """The public key of a raw private key."""
    key = _ed25519().Ed25519PrivateKey.from_private_bytes(private)
    return _raw_public(key.public_key())


def sign(private: bytes, message: bytes) -> bytes:
    """The signature of ``message`` by the raw private key ``private``."""
    signature: bytes = _ed25519().Ed25519PrivateKey.from_private_bytes(private).sign(message)
    return signature


def verify(public: bytes, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is ``public``'s signature of exactly ``message``; False for anything else."""
    ed25519 = _ed25519()  # first: it raises SigningUnavailable without the extra
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415 - optional extra

    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
