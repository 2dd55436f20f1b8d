"""The exception tree of graylib.

::

    GraylibError(Exception)
     +-- ConfigError(GraylibError, ValueError)   a rules file or mapping is invalid; carries every problem
     +-- PolicyError(GraylibError, ValueError)   a valid config may not replace the running one
     +-- StoreError(GraylibError)                a store backend failed (sqlite3, redis errors wrapped)
     +-- ConflictError(GraylibError)             a publish lost a race, or reused a version for another text

The payment path (``Client.evaluate`` / ``Client.claim``) never raises any of these: it turns every fault
into a ``Decision`` with ``Reason.ERROR``. They surface from loading, reloading, the CLI and store
administration (``kill``, ``revive``, ``status``).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ConfigError", "ConflictError", "GraylibError", "PolicyError", "StoreError"]


class GraylibError(Exception):
    """Base class of every exception graylib raises on purpose."""


class ConfigError(GraylibError, ValueError):
    """A configuration is invalid.

    ``problems`` holds every problem found, each as ``"path: message"`` so that an operator can fix a file in
    one pass instead of one error per attempt. ``str(error)`` lists them all.
    """

    problems: tuple[str, ...]

    def __init__(self, problems: Iterable[str], *, source: str | None = None) -> None:
        self.problems = tuple(problems) or ("invalid configuration",)
        self.source = source
        head = f"{source}: " if source else ""
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{head}invalid configuration ({count} {noun}):\n{lines}")


class PolicyError(GraylibError, ValueError):
    """A valid configuration is refused as a change of the running one (skipped stage, missing approvals...).

    ``violations`` holds each refusal as ``"rule id: message"``.
    """

    violations: tuple[str, ...]

    def __init__(self, violations: Iterable[str]) -> None:
        self.violations = tuple(violations) or ("change refused",)
        lines = "\n".join(f"  - {v}" for v in self.violations)
        super().__init__(f"change refused by policy ({len(self.violations)}):\n{lines}")


class StoreError(GraylibError):
    """A store backend failed; the backend's own exception is chained as ``__cause__``."""


class ConflictError(GraylibError):
    """A publish lost a race or would reuse a name: the store changed nothing.

    Raised when the current revision moved since the publish checked against it ("revision N was published
    meanwhile; plan again"), or when the config's ``version`` already names another text in the store.
    """
