"""IP deny lists as sorted intervals of packed addresses, matched without building ``ipaddress`` objects.

Parsing an address with ``ipaddress`` costs microseconds; ``socket.inet_pton`` costs a fraction of that, and
its packed (big-endian) bytes already sort like the addresses they encode, so a bisect over the merged
intervals' packed bounds answers any number of ranges in one step with no conversion to integers. The
presence of a colon picks the address family, so no payment pays for a failed parse of the other one.
IPv4-mapped IPv6 addresses (``::ffff:198.51.100.7``) are matched against the IPv4 ranges.

``limit_key`` gives the text a ``per_ip`` limit counts by: one canonical form per address however it is
written, and one per IPv6 /64 (a subscriber is usually given a whole /64 and can pick any address in it).
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import socket
from collections.abc import Iterable

__all__ = ["IPRanges", "limit_key", "parse_ip"]

_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_inet_pton = socket.inet_pton
_inet_ntop = socket.inet_ntop
_V6_HOST_ZEROS = b"\x00" * 8
_bisect_right = bisect.bisect_right


def _pack(text: str) -> tuple[int, bytes] | None:
    """``(version, packed address)`` of ``text`` as given, or None when it is not an address."""
    try:
        packed = _inet_pton(_AF_INET, text) if ":" not in text else _inet_pton(_AF_INET6, text)
    except (OSError, ValueError):  # not an address (ValueError: an embedded NUL)
        return None
    if len(packed) == 4:
        return 4, packed
    if packed[:12] == _MAPPED_PREFIX:
        return 4, packed[12:]
    return 6, packed


def parse_ip(text: str) -> tuple[int, int] | None:
    """``(version, integer)`` of an address (surrounding spaces allowed), or None when it is not one."""
    parsed = _pack(text.strip()) if isinstance(text, str) else None
    if parsed is None:
        return None
    return parsed[0], int.from_bytes(parsed[1], "big")


def limit_key(text: str) -> str | None:
    """What a ``per_ip`` limit counts for ``text``, or None when it is not an address.

    IPv4 (and IPv4-mapped IPv6) as dotted decimal: ``"1.2.3.4"``; any other IPv6 address as its /64 network
    in compressed lower-case form: ``"2001:db8::/64"``. Surrounding spaces are ignored. Without this, the
    same address written twice differently (``2001:db8::1``, ``2001:DB8:0:0::1``, ``::ffff:1.2.3.4``)
    would fill separate counters, and one subscriber could walk through its /64 to evade the limit.
    """
    parsed = _pack(text.strip()) if type(text) is str else None
    if parsed is None:
        return None
    version, packed = parsed
    if version == 4:
        return _inet_ntop(_AF_INET, packed)
    return _inet_ntop(_AF_INET6, packed[:8] + _V6_HOST_ZEROS) + "/64"


@functools.lru_cache(maxsize=4096)
def _span(text: str) -> tuple[int, tuple[int, int, str]]:
    """``(version, (first, last, label))`` of an address or CIDR entry; cached, as the same deny entries
    recur in many rules and every reload compiles them all again."""
    net = ipaddress.ip_network(text, strict=True)
    return net.version, (int(net.network_address), int(net.broadcast_address), str(net))


class _Intervals:
    """Disjoint, sorted ``[start, end]`` intervals of one address family, bounds as packed bytes."""

    __slots__ = ("ends", "labels", "starts")

    def __init__(self, spans: list[tuple[int, int, str]], width: int) -> None:
        spans.sort()
        starts: list[int] = []
        ends: list[int] = []
        self.labels: list[str] = []
        for start, end, label in spans:
            if ends and start <= ends[-1] + 1:
                ends[-1] = max(ends[-1], end)
                continue
            starts.append(start)
            ends.append(end)
            self.labels.append(label)
        self.starts = [s.to_bytes(width, "big") for s in starts]
        self.ends = [e.to_bytes(width, "big") for e in ends]


class IPRanges:
    """A set of addresses and CIDR ranges (validated by the config) that answers membership quickly."""

    __slots__ = ("_v4", "_v6", "count")

    def __init__(self, entries: Iterable[str]) -> None:
        v4: list[tuple[int, int, str]] = []
        v6: list[tuple[int, int, str]] = []
        for text in entries:
            version, span = _span(text)
            (v4 if version == 4 else v6).append(span)
        self._v4 = _Intervals(v4, 4)
        self._v6 = _Intervals(v6, 16)
        self.count = len(v4) + len(v6)

    def __bool__(self) -> bool:
        return self.count > 0

    def match(self, ip: str) -> str | None:
        """The matching entry (as text), ``""`` when none matches, None when ``ip`` is not an address.

        Surrounding whitespace is ignored; it is stripped only after the address as given fails to parse.
        """
        if not isinstance(ip, str):
            return None
        try:
            packed = _inet_pton(_AF_INET, ip) if ":" not in ip else _inet_pton(_AF_INET6, ip)
        except (OSError, ValueError):  # not an address as given (ValueError: an embedded NUL)
            stripped = ip.strip()
            return None if stripped == ip else self.match(stripped)
        if len(packed) == 4:
            family = self._v4
        elif packed[:12] == _MAPPED_PREFIX:
            family, packed = self._v4, packed[12:]
        else:
            family = self._v6
        i = _bisect_right(family.starts, packed) - 1
        if i >= 0 and packed <= family.ends[i]:
            return family.labels[i]
        return ""
