"""Which addresses image fetching may reach: IP literals, host spellings, and whether an address is public.

Pure helpers, nothing resolved or sent: fetch.py checks every URL and every resolved address with them.
"""

from __future__ import annotations

import ipaddress

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(address: IpAddress) -> bool:
    """Whether an address is globally routable (not loopback, private, link-local, reserved, ...)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.teredo is not None and not is_public(address.teredo[1]):
            return False  # Teredo carries an IPv4 client address
        embedded = address.ipv4_mapped or address.sixtofour  # ::ffff:127.0.0.1, 2002:7f00:1::1 → 127.0.0.1
        if embedded is not None:
            return is_public(embedded)
    internal = (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )
    return address.is_global and not internal


def ip_literal(host: str) -> IpAddress | None:
    """The address when the host is an IP literal, else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def normalise_host(host: str) -> str:
    """Lower case, no trailing dot, brackets or alternative spellings of an IP address."""
    name = host.lower().rstrip(".")
    literal = ip_literal(name)
    return str(literal) if literal is not None else name
