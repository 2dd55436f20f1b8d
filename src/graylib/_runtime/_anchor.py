"""The approved anchor of a signed client's last good copy.

A client with a trust file checks each new version against the one it serves. After a restart, the one it
served is the last good copy on disk, and a file on disk is what an attacker with write access to the
machine can replace: a widened config written both as the rules file and as the last good copy would be
"unchanged" and go live unsigned. So a signed client keeps, beside the last good copy, the last version that
carried the trust file's threshold of valid signatures: its exact bytes (``LAST_GOOD.approved``) and its
signature file (``LAST_GOOD.approved.sig``). At start-up the last good copy is trusted only when that anchor
still verifies and the copy is the anchor or a change of it that needs no signature (a kill, an earlier
stage, tighter limits); otherwise it is unusable, and the rules file must carry the threshold itself.

Replacing the anchor with an older approved version is possible (its signatures stay valid): that is why
approvals can carry an ``expires_at``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable

from .._compile import Snapshot
from .._errors import ConfigError
from .._load import RulesText, text_of_bytes
from .._policy import SignedApprovals, missing_signatures, plan_change, signed_approvals
from .._trust import Trust, read_bounded, read_signature_file

__all__ = ["save_anchor", "vouched"]

log = logging.getLogger("graylib")

Build = Callable[[RulesText], Snapshot]


def _paths(last_good_path: str) -> tuple[str, str]:
    return f"{last_good_path}.approved", f"{last_good_path}.approved.sig"


def _write(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def save_anchor(last_good_path: str, data: bytes, signatures: bytes | None) -> None:
    """Keep an approved version's exact bytes and signatures as the anchor (each file replaced atomically;
    a crash between the two leaves a pair that does not verify, which only makes the anchor unusable)."""
    rules_path, sig_path = _paths(last_good_path)
    try:
        _write(sig_path, signatures or b"")
        _write(rules_path, data)
    except OSError as exc:
        log.warning("graylib could not write the approved copy beside %s: %s", last_good_path, exc)


def vouched(
    good: Snapshot,
    last_good_path: str,
    fmt: str,
    build: Build,
    trust: Trust,
) -> Snapshot | ConfigError:
    """``good`` (the last good copy, built) when the anchor vouches for it; else why it cannot be trusted."""
    rules_path, sig_path = _paths(last_good_path)
    where = f"the last good copy {last_good_path}"
    try:
        data = read_bounded(rules_path)
        signatures = read_signature_file(sig_path)
        anchor = build(text_of_bytes(data, rules_path, fmt=fmt))
    except (ConfigError, OSError) as exc:
        return ConfigError([f"{where} has no usable approved copy beside it ({exc})"])
    missing = missing_signatures(signed_approvals(anchor.config, data, signatures, trust))
    if missing is not None:
        return ConfigError([f"{where}: its approved copy {rules_path} does not verify: {missing}"])
    unsigned = SignedApprovals(trust_version=trust.version, threshold=trust.threshold, checks=())
    plan = plan_change(anchor.config, good.config, approvals=unsigned)
    if not plan.allowed:
        refusals = "; ".join(str(v) for v in plan.violations)
        msg = f"{where} is neither its approved copy nor a change of it that needs no signature: {refusals}"
        return ConfigError([msg])
    return good
