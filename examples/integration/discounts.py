"""The graylib part of a payment service's HTTP handlers, kept apart from the web framework.

The Flask and FastAPI handlers in docs/integration.md are thin: they read the request, call these functions
and return what they give. Everything here runs without a web framework, so it can be tested alone.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import graylib

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

TEXT_FIELDS = ("account", "payment_type", "region", "merchant", "device")


def store_path(instance_dir: str | os.PathLike[str]) -> str:
    """The SQLite file every worker of this service shares: ``$GRAYLIB_DB`` if set, else ``graylib.db`` in the
    application's own instance folder. Its folder is created if missing, so a first run needs no set-up."""
    path = Path(os.environ.get("GRAYLIB_DB") or Path(instance_dir) / "graylib.db")
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def payment_context(fields: object, *, payment_id: str = "", ip: str = "") -> graylib.Context:
    """A ``Context`` from a request's fields (a JSON body or query parameters).

    Raises ``ValueError`` naming the field for input the service should answer with 400: a body that is not
    an object, text fields that are not strings, an amount that is not an integer (minor units). Values of
    the right type go to graylib as they are: an unknown payment type or region is a refusal with a reason,
    not an error.
    """
    if not isinstance(fields, Mapping):
        msg = "the body must be a JSON object"
        raise ValueError(msg)
    text: dict[str, str] = {}
    for name in TEXT_FIELDS:
        value = fields.get(name, "")
        if not isinstance(value, str):
            msg = f"{name}: must be a string"
            raise ValueError(msg)
        text[name] = value
    amount = fields.get("amount", 0)
    if isinstance(amount, bool) or not isinstance(amount, int):
        msg = "amount: must be an integer number of minor units (cents, fen)"
        raise ValueError(msg)
    return graylib.Context(
        account=text["account"],
        payment_type=text["payment_type"],
        amount=amount,
        payment_id=payment_id,
        region=text["region"],
        ip=ip,
        device=text["device"],
        merchant=text["merchant"],
    )


def decision_body(decision: graylib.Decision) -> dict[str, object]:
    """What the service answers: act on ``applies``; ``reason`` and ``detail`` say why (log them too)."""
    return {
        "applies": decision.applies,
        "discount": decision.discount,
        "reason": decision.reason.value,
        "detail": decision.detail,
    }


def trusted_networks(text: str) -> list[Network]:
    """The networks of your own proxies and load balancers, from a comma-separated list such as
    ``$TRUSTED_PROXIES="10.0.0.0/8, fd00::/8"``. Raises ``ValueError`` naming a bad entry."""
    out: list[Network] = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        try:
            out.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            msg = f"TRUSTED_PROXIES: {entry!r} is not an address or network"
            raise ValueError(msg) from None
    return out


def client_ip(peer: str, forwarded_for: str | None, trusted: Iterable[Network]) -> str:
    """The paying customer's address: what a rule's ``per_ip`` limit and IP deny list must see.

    ``peer`` is the address the connection came from (Flask's ``request.remote_addr``, FastAPI's
    ``request.client.host``); ``forwarded_for`` the ``X-Forwarded-For`` header, its values joined by commas.
    Each proxy appends the address it received the request from, so the header is read from the right and
    the first address that is not one of your ``trusted`` proxies is the client. Everything left of it was
    written by the client and may be forged. A request that did not come through a trusted proxy keeps its
    peer address, whatever header it sends. A hop that is not an address gives ``""`` (unknown): a rule with
    a ``per_ip`` limit then refuses the discount instead of counting it against the wrong address.
    """
    networks = list(trusted)
    address = _address(peer)
    if address is None or not _is_trusted(address, networks):
        return str(address) if address is not None else ""
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return ""
        if not _is_trusted(address, networks):
            return str(address)
    return str(address)  # every hop is one of ours: the request started inside


def _address(text: str) -> Address | None:
    """An address from a header hop: ``203.0.113.7``, ``203.0.113.7:5123``, ``2001:db8::1`` or
    ``[2001:db8::1]:443``; None for anything else (``unknown``, a host name, garbage)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_trusted(address: Address, networks: list[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)
