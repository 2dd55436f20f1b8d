"""RedisStore's grant ledger, read back: one stream per rule, ``{prefix:rule_id}:ledger``.

The scripts that claim and release (``reserve.lua``, ``release.lua``) append the entries, in the rule's slot
and in the same script as the counters; each entry's id is ``<seq>-0``, with ``seq`` taken from the rule's
statistics hash (``ledger_seq``), so paging by id is paging by ``seq``. Here the streams are only read:
``ledger_page.lua`` answers a page as one JSON text (``parse``), and a ``SCAN`` of every node lists the
rules that have one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from graylib.stores._ledger import LedgerEntry, LedgerSummary, LedgerTrimmed, summarise

__all__ = ["RedisLedger", "parse", "rules"]

_TRIM_PAGE = 500
_TRIMMED = ("trimmed_grants", "trimmed_releases", "trimmed_granted", "trimmed_released")
_READ_PAGE = 1000
"""Most ledger entries one script reads: a page is built inside Redis, which serves nothing else meanwhile."""

_GLOB = re.compile(r"([\\*?\[\]])")
_decode = msgspec.json.Decoder(list[tuple[str, list[str]]]).decode


def rules(client: Any, prefix: str) -> list[str]:
    """Every rule id with a ledger stream under ``prefix``.

    A cluster client scans every primary. Key names that only look like a ledger (a record of a payment id
    ending in ``}:ledger``) are told apart by their rule part: a rule id never contains ``}:``.
    """
    head = "{" + prefix + ":"
    pattern = _GLOB.sub(r"\\\1", head) + "*}:ledger"
    found: set[str] = set()
    for key in client.scan_iter(match=pattern, count=1000, _type="stream"):
        rule_id = key[len(head) : -len("}:ledger")]
        if "}:" not in rule_id:
            found.add(rule_id)
    return sorted(found)


def parse(reply: str | bytes, rule_id: str) -> list[LedgerEntry]:
    """The entries of one ``ledger_page.lua`` reply, in order."""
    out = []
    for entry_id, flat in _decode(reply):
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        out.append(
            LedgerEntry(
                int(entry_id.partition("-")[0]),
                float(fields["at"]),
                fields["kind"],
                rule_id,
                fields["version"],
                fields["digest"],
                fields["payment"],
                fields["account"],
                int(fields["amount"]),
                int(fields["discount"]),
                fields["cluster"],
                fields["node"],
            )
        )
    return out


class RedisLedger:
    """The ledger's reading and trimming methods of ``RedisStore``."""

    if TYPE_CHECKING:
        _prefix: str
        _errors: tuple[type[BaseException], ...]

        def _client(self) -> Any: ...
        def _tag(self, rule_id: str, what: str) -> str: ...
        def _run(self, name: str, keys: list[str], args: Sequence[str | int]) -> Any: ...
        def _call(self, what: str, command: str, *args: Any, **kwargs: Any) -> Any: ...
        def _store_error(self, what: str, exc: BaseException) -> Exception: ...

    def ledger_rules(self) -> list[str]:
        """The ids of every rule with a ledger stream, sorted (a SCAN of every node)."""
        try:
            return rules(self._client(), self._prefix)
        except self._errors as exc:
            raise self._store_error("ledger_rules", exc) from exc

    def ledger_page(self, rule_id: str, after: int, limit: int) -> list[LedgerEntry]:
        """Up to ``limit`` entries of the rule with ``seq > after``, in ``seq`` order (a script call per
        thousand entries, each answering one JSON text)."""
        key = f"{self._tag(rule_id, 'ledger_page')}:ledger"
        out: list[LedgerEntry] = []
        while len(out) < limit:
            want = min(limit - len(out), _READ_PAGE)
            reply = self._run("ledger_page.lua", [key], [f"{after + 1}-0", want])
            try:
                entries = parse(reply, rule_id)
            except (ValueError, KeyError, TypeError) as exc:
                raise self._store_error("ledger_page", exc) from exc
            out += entries
            if len(entries) < want:
                break
            after = entries[-1].seq
        return out

    def ledger_trimmed(self, rule_id: str) -> LedgerTrimmed:
        """The totals of the rule's entries removed by ``trim_ledger``."""
        values = self._call("ledger_trimmed", "hmget", f"{self._tag(rule_id, 'ledger')}:stats", _TRIMMED)
        return LedgerTrimmed(*(int(value or 0) for value in values))

    def ledger_summary(self, rule_id: str) -> LedgerSummary:
        """The rule's whole ledger added up, trimmed entries included (read page by page)."""
        return summarise(self, rule_id)

    def trim_ledger(self, rule_id: str, before: float) -> int:
        """Remove the rule's entries older than ``before`` (keeping their totals), a page per script."""
        tag = self._tag(rule_id, "trim_ledger")
        keys = [f"{tag}:ledger", f"{tag}:stats"]
        last, removed = "0-0", 0
        while True:
            gone, seen_last, seen = self._run("ledger_trim.lua", keys, [last, _TRIM_PAGE, repr(before)])
            removed += int(gone)
            if int(seen) < _TRIM_PAGE:
                return removed
            last = str(seen_last)
