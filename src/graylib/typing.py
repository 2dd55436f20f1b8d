"""The types a program implements or annotates with when it embeds graylib.

- ``Store``: the protocol a store implements (``MemoryStore``, ``SQLiteStore`` and ``RedisStore`` do); a
  custom store is any class with the same methods and meaning.
- ``Snapshot``: the compiled, immutable rule set that ``Client.snapshot`` returns and ``ReloadHook``
  receives; a reload builds a new one, never changes one.
- ``AlertHook``: ``Client(on_alert=...)``, called with every ``Alert`` (a rate alarm tripped), on the
  claiming thread; what it raises is logged, never raised into the payment.
- ``ReloadHook``: ``Client.from_file(on_reload=...)``, called with the new ``Snapshot`` after a reload swaps
  it in.
- ``ReloadErrorHook``: ``Client.from_file(on_reload_error=...)``, called with the error that kept a bad
  config out (the previous snapshot keeps serving).

Hooks return anything; the value is ignored. Every name is re-exported from the module that defines it, so
``from graylib.typing import Store`` keeps working wherever the definition lives:

>>> from graylib import Alert
>>> from graylib.typing import AlertHook
>>> def page_on_call(alert: Alert) -> None:
...     print(f"{alert.rule_id} stopped: {alert.reason}")
>>> hook: AlertHook = page_on_call
>>> hook(Alert(rule_id="subsidy", window=60, alarm_amount=100, amount=120, reason="rate alarm"))
subsidy stopped: rate alarm
"""

from ._compile import Snapshot
from ._runtime._claims import AlertHook
from ._runtime._follow import ReloadErrorHook, ReloadHook
from .stores._protocol import Store

__all__ = ["AlertHook", "ReloadErrorHook", "ReloadHook", "Snapshot", "Store"]
