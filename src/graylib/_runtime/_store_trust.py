"""The trust file in force in a store, followed by a client: ``StoreTrust`` (``trust="store"``).

A client made with ``Client.from_store(..., trust="store")`` takes its trust file from the store it follows
instead of from a path read once. At start it walks the store's chain of trust files from the root
(``_trust.read_chain``); then, before each look at the published revision, it reads the number of the
trust file in force (one small read) and, when it grew, verifies each new trust file against the one in
force before it (a higher version, signed by the threshold of its approvers). So a key rotation reaches
every client without a restart, and a trust file written into the store past ``graylib trust publish``
(unsigned, signed by removed approvers, or of a lower version) is never used: the client keeps the one
it has, and reports the refusal.

A client never goes back: a store whose number of trust files fell below what the client has read (a store
restored from an old copy, or emptied and filled again) is refused, and the trust file in force stays.
"""

from __future__ import annotations

import logging

from .._errors import ConfigError, PolicyError, StoreError
from .._redact import describe_error
from .._trust import Trust, TrustChain, advance_chain, read_chain, require_signing
from ..stores import Store

__all__ = ["STORE_TRUST", "StoreTrust"]

log = logging.getLogger("graylib")

STORE_TRUST = "store"
"""``Client.from_store(trust=STORE_TRUST)``: follow the trust file published in the store."""


class StoreTrust:
    """The verified trust file in force in ``store``, and how far its chain was read."""

    __slots__ = ("_chain", "name", "store")

    def __init__(self, store: Store, chain: TrustChain, name: str) -> None:
        self.store = store
        self.name = name
        self._chain = chain

    @classmethod
    def start(cls, store: Store, name: str) -> StoreTrust:
        """The chain read from the root; ``ConfigError`` when the store has no trust file (or an invalid
        root), ``StoreError`` when it cannot be read, ``SigningUnavailable`` without ``cryptography``."""
        require_signing()
        chain = read_chain(store, name)
        if chain is None:
            msg = (
                f"no trust file is published in {name}: trust='store' needs one "
                "(graylib trust publish TRUST --root --store URL)"
            )
            raise ConfigError([msg])
        for reason in chain.skipped:
            log.warning("graylib: %s", reason)
        return cls(store, chain, name)

    @property
    def trust(self) -> Trust:
        """The trust file in force, as verified."""
        return self._chain.trust

    @property
    def number(self) -> int:
        """The store's number of the trust file in force."""
        return self._chain.record.number

    def refresh(self) -> tuple[bool, Exception | None]:
        """Read the store's trust files that are new since the last read: (whether the trust file in force
        changed, why a trust file of the store is not used, if one is not). Never raises."""
        chain = self._chain
        try:
            head = self.store.head_trust()
            if head == chain.seen:
                return False, None
            if head < chain.seen:
                msg = (
                    f"{self.name} has {head} trust files, fewer than the {chain.seen} this client read: "
                    f"refused (a store restored from an old copy?); trust file version {chain.trust.version} "
                    "stays"
                )
                return False, PolicyError([msg])
            advanced = advance_chain(self.store, chain, head, self.name)
        except Exception as exc:  # unreachable, damaged: the trust file in force stays
            error = StoreError(f"cannot read the trust files of {self.name}: {describe_error(exc)}")
            return False, error
        self._chain = advanced
        changed = advanced.record.number != chain.record.number
        if changed:
            log.info(
                "graylib: trust file version %s of %s is now in force", advanced.trust.version, self.name
            )
        new = advanced.skipped[len(chain.skipped) :]
        return changed, (PolicyError(new) if new else None)
