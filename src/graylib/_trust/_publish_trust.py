"""Publishing a trust file into a store beside the revisions: ``publish_trust`` and ``store_trust``.

The first trust file of a store is its root of trust: accepted into an empty store only by an explicit act
(``root=True``, ``graylib trust publish --root``), by whoever may write to the store, because nothing
before it can approve it. Every later one must be accepted by ``check_trust_change`` against the trust file
in force in the store (``_chain``): a higher version, signed over its exact bytes by the threshold of the
approvers in force. It is then stored by compare-and-set of the number in force, so of two racing rotations
checked against the same trust file exactly one is stored; the other gets ``ConflictError``.
"""

from __future__ import annotations

import os
import time

from .._errors import ConfigError, PolicyError
from ..stores import Store, TrustRecord
from ..stores._revisions import signatures_text
from ._chain import TrustChain, read_chain
from ._ed25519 import require_signing
from ._rotation import check_trust_change
from ._sigfile import read_signature_file, signature_path
from ._trustfile import Trust, parse_trust, read_bounded

__all__ = ["publish_trust", "store_trust"]


def _signatures(path: str, signatures: str | os.PathLike[str] | None) -> bytes | None:
    target, explicit = (
        (os.fspath(signatures), True) if signatures is not None else (signature_path(path), False)
    )
    try:
        return read_signature_file(target)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(["no such signature file"], source=os.fspath(target)) from None
        return None
    except OSError as exc:
        raise ConfigError([f"cannot read the signature file: {exc}"], source=os.fspath(target)) from exc


def store_trust(store: Store) -> TrustChain | None:
    """The trust file in force in ``store`` (its chain verified from the root), or None when it has none."""
    return read_chain(store)


def publish_trust(
    store: Store,
    path: str | os.PathLike[str],
    *,
    signatures: str | os.PathLike[str] | None = None,
    root: bool = False,
    by: str = "",
    note: str = "",
    now: float | None = None,
) -> TrustRecord:
    """Publish the trust file at ``path`` (with ``signatures``, default ``FILE.sig``) into ``store``.

    Into an empty store only with ``root=True``: it becomes the root of trust. Otherwise it must be a
    rotation the trust file in force accepts (``PolicyError`` with the reasons when not; ``root=True`` is
    then refused too: a store has one root). Publishing the bytes already in force changes nothing and
    returns that record. ``ConfigError`` for an unreadable or invalid file, ``ConflictError`` when another
    trust file was stored meanwhile, ``StoreError`` when the store cannot be read or written.
    """
    name = os.fspath(path)
    data = read_bounded(name)
    sig_bytes = _signatures(name, signatures)
    require_signing()
    chain = read_chain(store)
    when = time.time() if now is None else now
    if chain is None:
        if not root:
            msg = (
                "the store has no trust file yet; the first one is the store's root of trust and is accepted "
                "only by an explicit act: graylib trust publish FILE --root (publish_trust(..., root=True))"
            )
            raise PolicyError([msg])
        new: Trust = parse_trust(data, source=name)
        expected = 0
    else:
        if root:
            msg = (
                f"the store already has a root of trust (trust file {chain.record.number}, version "
                f"{chain.trust.version}, is in force): a new trust file must be signed by its approvers"
            )
            raise PolicyError([msg])
        change = check_trust_change(chain.trust, data, sig_bytes, source=name)
        if not change.accepted or change.new is None:
            raise PolicyError(change.reasons)
        if change.new.digest == chain.trust.digest:
            return chain.record
        new, expected = change.new, chain.seen
    record = TrustRecord(
        number=0,
        version=new.version,
        digest=new.digest,
        text=data.decode("utf-8"),
        signatures=signatures_text(sig_bytes) if expected else "",
        published_at=when,
        published_by=by,
        note=note,
    )
    return store.append_trust(record, expected)
