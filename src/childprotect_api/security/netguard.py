"""Which network addresses the server may send requests to (webhooks): never its own
machine, its private networks, link-local (cloud metadata at 169.254.169.254), multicast,
reserved or unspecified addresses, in IPv4 or IPv6 (IPv4-mapped, 6to4 and NAT64 forms
included), unless an operator lists the network in CHILDPROTECT_WEBHOOK_ALLOW_NETWORKS
(a private deployment whose receivers live on its own network; the tests' local receiver).

The host is checked when a subscription is made (a literal address) and again, after DNS,
at every delivery; the delivery then connects to the address that was checked (so a name
that resolves differently a moment later cannot slip through)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


class RefusedAddress(Exception):
    """The host is, or resolves to, an address deliveries may not go to."""


def parse_networks(text: str) -> list[IPNetwork]:
    """CHILDPROTECT_WEBHOOK_ALLOW_NETWORKS: comma-separated CIDRs (`10.20.0.0/16, ::1/128`)."""
    return [
        ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()
    ]


def _embedded(ip: IPAddress) -> IPAddress | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64, Teredo), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _public(ip: IPAddress) -> bool:
    inner = _embedded(ip)
    if inner is not None:  # judged by the IPv4 address it reaches
        return _public(inner)
    if (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    ):
        return False
    return not (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED)


def is_allowed(ip: IPAddress, allow: Sequence[IPNetwork] = ()) -> bool:
    """Whether a delivery may go to this address."""
    inner = _embedded(ip)
    for candidate in (ip, inner):
        if candidate is not None and any(
            candidate.version == net.version and candidate in net for net in allow
        ):
            return True
    return _public(ip)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names literally: dotted or bracketed forms, and the short and
    numeric IPv4 forms resolvers accept (`127.1`, `2130706433`, `0x7f.0.0.1`)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if (
        host
        and all(c in "0123456789abcdefxABCDEFX." for c in host)
        and any(c.isdigit() for c in host)
    ):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_literal(host: str, allow: Sequence[IPNetwork] = ()) -> None:
    """Refuse a host that is a literal address deliveries may not go to (names pass here and
    are checked after DNS at delivery)."""
    ip = literal_address(host)
    if ip is not None and not is_allowed(ip, allow):
        raise RefusedAddress(host)
    name = host.rstrip(".").lower()
    if name in ("localhost", "localhost.localdomain") or name.endswith(".localhost"):
        # RFC 6761: always the loopback; refused unless the loopback is allowed.
        if not is_allowed(ipaddress.IPv4Address("127.0.0.1"), allow):
            raise RefusedAddress(host)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host resolves to (a literal one as itself)."""
    ip = literal_address(host)
    if ip is not None:
        return [ip]
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def choose(addresses: Iterable[IPAddress], allow: Sequence[IPNetwork] = ()) -> IPAddress:
    """The address to connect to: the first one, provided that every one is allowed (a name
    with one private address among public ones is refused: which is used is not ours to say)."""
    addresses = list(addresses)
    if not addresses or not all(is_allowed(ip, allow) for ip in addresses):
        raise RefusedAddress("refused")
    return addresses[0]
