"""Who is the client: the peer address, or ``X-Forwarded-For`` from a trusted proxy.

``X-Forwarded-For`` is honoured only when the TCP peer is inside one of
``PAGEPULSE_TRUSTED_PROXIES``; then the right-most address that is not itself a
trusted proxy is the client (left-most entries are whatever the client claimed).
The address is used in memory only: never stored, never logged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from pagepulse.config import IPNetwork


@lru_cache(maxsize=65536)
def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [::1]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # 1.2.3.4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[IPNetwork]
) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


@lru_cache(maxsize=65536)
def client_ip(peer: str | None, forwarded_for: str | None, proxies: Sequence[IPNetwork]) -> str:
    """The client's address as text ("" when unknown). Cached: it runs on every event,
    and the same visitor sends many (the cache lives in memory only, like the IP)."""
    if not forwarded_for or not proxies:
        return peer or ""  # the ASGI server gives the peer as a valid address
    peer_addr = _parse(peer) if peer else None
    if peer_addr is None:
        return ""
    if not _trusted(peer_addr, proxies):
        return str(peer_addr)
    for hop in reversed(forwarded_for.split(",")):
        addr = _parse(hop)
        if addr is None:
            break
        if not _trusted(addr, proxies):
            return str(addr)
    return str(peer_addr)
