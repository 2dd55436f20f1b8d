"""RedisStore's grant ledger, read back: one stream per rule, ``{prefix:rule_id}:ledger``.

The scripts that claim and release (``reserve.lua``, ``release.lua``) append the entries, in the rule's slot
and in the same script as the counters; each entry's id is ``<seq>-0``, with ``seq`` taken from the rule's
statistics hash (``ledger_seq``), so paging by id is paging by ``seq``. Here the streams are only read:
``ledger_page.lua`` answers a page as one JSON text (``parse``), and a ``SCAN`` of every node lists the
rules that have one.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from graylib.stores._ledger import LedgerEntry

__all__ = ["parse", "rules"]

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
