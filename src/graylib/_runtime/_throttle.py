"""``LogThrottle``: a warning that may repeat on every payment is logged at most once per interval and key.

A store outage makes every claim and release fail; logging each would flood the application's logs at the
payment rate. The first failure of a kind (per rule) is logged at once; later ones within ``interval``
seconds are counted, and the next line logged says how many were left out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable

from cachetools import LRUCache

__all__ = ["LogThrottle"]

_MAX_KEYS = 1024
"""Most keys remembered (keys include caller-given rule ids); the least recently used go first."""


class LogThrottle:
    """Logs a warning per key at most once every ``interval`` seconds (by ``clock``, monotonic)."""

    __slots__ = ("_clock", "_interval", "_log", "_seen")

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval = interval
        self._clock = clock
        self._seen: LRUCache[Hashable, tuple[float, int]] = LRUCache(maxsize=_MAX_KEYS)

    def warning(self, key: Hashable, message: str, *args: object) -> None:
        """``logger.warning(message, *args)`` unless ``key`` was logged less than ``interval`` ago."""
        now = self._clock()
        seen = self._seen
        entry = seen.get(key)
        if entry is not None and now < entry[0]:
            seen[key] = (entry[0], entry[1] + 1)
            return
        skipped = entry[1] if entry is not None else 0
        seen[key] = (now + self._interval, 0)
        if skipped:
            message += f" ({skipped} more like it in the last {self._interval:g} s not logged)"
        self._log.warning(message, *args)
