"""Approvals that cannot be forged: ed25519 keys, signature files, trust files, and their verification.

- ``_ed25519``: the only user of the optional ``cryptography`` package (imported on first use);
- ``_keys``: ``ed25519:<base64>`` key texts, key ids, private key files (mode 0600);
- ``_sigfile``: ``FILE.sig`` lines and the exact message a signature signs;
- ``_trustfile``: the trust file (approvers, keys, threshold, version), validated with paths;
- ``_verify``: which signatures of a file count, and why each other one does not;
- ``_approve``: signing a file and appending the line; ``_rotation``: a trust file change is approved;
- ``_chain``: the trust files published in a store and the one in force; ``_publish_trust``: publishing one.

Counting approvals against a change (which changes need them, how many) is the policy's
(``_policy.plan_change`` with ``approvals=``); this package only says which signatures are valid.
"""

from ._approve import already_signed, append_signature, approve
from ._chain import TrustChain, advance_chain, read_chain
from ._ed25519 import SigningUnavailable, generate, require_signing
from ._keys import PrivateKey, decode_key, encode_key, key_id, read_private_key, write_private_key
from ._publish_trust import publish_trust, store_trust
from ._rotation import TrustChange, check_trust_change
from ._sigfile import (
    CorruptLine,
    Signature,
    parse_signatures,
    read_signature_file,
    signature_path,
    signatures_beside,
)
from ._trustfile import Approver, Trust, load_trust, parse_trust, person, read_bounded, trust_in_force
from ._verify import NotCounted, SignatureCheck, check_signatures, counted

__all__ = [
    "Approver",
    "CorruptLine",
    "NotCounted",
    "PrivateKey",
    "Signature",
    "SignatureCheck",
    "SigningUnavailable",
    "Trust",
    "TrustChain",
    "TrustChange",
    "advance_chain",
    "already_signed",
    "append_signature",
    "approve",
    "check_signatures",
    "check_trust_change",
    "counted",
    "decode_key",
    "encode_key",
    "generate",
    "key_id",
    "load_trust",
    "parse_signatures",
    "parse_trust",
    "person",
    "publish_trust",
    "read_bounded",
    "read_chain",
    "read_private_key",
    "read_signature_file",
    "require_signing",
    "signature_path",
    "signatures_beside",
    "store_trust",
    "trust_in_force",
    "write_private_key",
]
