"""IP deny lists: packed-bytes intervals agree with the ipaddress module on every address."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from graylib._iprange import IPRanges, limit_key, parse_ip

ENTRIES = ["198.51.100.0/24", "198.51.101.0/24", "10.0.0.7", "2001:db8:bad::/48", "2001:db8::1"]
NETWORKS = [ipaddress.ip_network(e) for e in ENTRIES]
RANGES = IPRanges(ENTRIES)


def _expected(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in NETWORKS if net.version == address.version)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.ip_addresses(), st.sampled_from([n.network_address for n in NETWORKS])))
def test_match_agrees_with_ipaddress(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert bool(RANGES.match(str(address))) is _expected(address)


def test_adjacent_ranges_merge_and_report_an_entry() -> None:
    assert RANGES.match("198.51.100.255") == "198.51.100.0/24"
    assert RANGES.match("198.51.101.0") == "198.51.100.0/24"  # merged with its neighbour
    assert RANGES.match("198.51.102.0") == ""
    assert RANGES.match("::ffff:10.0.0.7") == "10.0.0.7/32"


def test_not_addresses() -> None:
    for text in ["", "x", "1.2.3", "1.2.3.4.5", "::g", "1.2.3.4\x00", "\ud800", None, 42]:
        assert RANGES.match(text) is None  # type: ignore[arg-type]
    assert RANGES.match(" 198.51.100.3 ") == "198.51.100.0/24"
    assert parse_ip(" 10.0.0.7") == (4, int(ipaddress.ip_address("10.0.0.7")))
    assert parse_ip("::ffff:10.0.0.7") == (4, int(ipaddress.ip_address("10.0.0.7")))
    assert parse_ip("nope") is None


def test_empty() -> None:
    empty = IPRanges([])
    assert not empty and empty.match("10.0.0.7") == ""


@settings(max_examples=500, deadline=None)
@given(st.ip_addresses())
def test_limit_key_agrees_with_ipaddress(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        expected = str(address.ipv4_mapped)
    elif isinstance(address, ipaddress.IPv6Address):
        expected = str(ipaddress.ip_network(f"{address}/64", strict=False))
    else:
        expected = str(address)
    assert limit_key(str(address)) == expected
    assert limit_key(address.exploded.upper()) == expected


def test_limit_key_of_what_is_not_an_address() -> None:
    for text in ["", " ", "x", "1.2.3", "::g", "1.2.3.4\x00", "fe80::1%eth0", None, 42]:
        assert limit_key(text) is None  # type: ignore[arg-type]
