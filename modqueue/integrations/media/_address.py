"""Which addresses a media URL may reach: public ones only, unless configured.

An item's media URL comes from a platform or a reporter, so it is untrusted input. Left
alone, `http://169.254.169.254/...` or `http://localhost:5432/` in an item would make
modqueue reach the machines beside it (server-side request forgery). Every host is
resolved here, every address it resolves to is checked, and the request then goes to the
checked address itself, so a DNS answer cannot change between the check and the
connection (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from modqueue._exceptions import MediaRefused
from modqueue._sections.media import MediaConfig

__all__ = ["Target", "is_public_address", "resolve_target"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL's request goes: the URL as given, its host and port, and the address
    that was checked and will be connected to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


def is_public_address(address: IPAddress) -> bool:
    """`True` for a globally routable unicast address. Loopback, private, link-local
    (cloud metadata), shared (CGNAT), documentation, multicast and reserved ranges are
    not; an IPv4-mapped IPv6 address is judged by the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise MediaRefused(f"{host}: cannot resolve the host ({exc})") from None
    addresses: list[IPAddress] = []
    for info in infos:
        sockaddr = info[4]
        text = str(sockaddr[0]).split("%", 1)[0]
        addresses.append(ipaddress.ip_address(text))
    if not addresses:
        raise MediaRefused(f"{host}: the host has no address")
    return addresses


def resolve_target(url: str, *, config: MediaConfig) -> Target:
    """The checked `Target` of `url`. Raises `MediaRefused` for a scheme other than
    http(s), a URL with credentials, a host that does not resolve, or a host any of whose
    addresses is not public (unless `allow_private_addresses` or `allow_hosts` lets it)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise MediaRefused(f"{url!r}: only http and https URLs are fetched")
    if parts.username is not None or parts.password is not None:
        raise MediaRefused("a media URL with credentials in it is not fetched")
    host = (parts.hostname or "").lower()
    if not host:
        raise MediaRefused(f"{url!r}: the URL has no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise MediaRefused(f"{url!r}: the port is not a number in range") from None
    addresses = _resolve(host, port)
    shown = f"[{host}]" if ":" in host else host
    allowed = config.allow_private_addresses or f"{shown}:{port}" in config.allow_hosts
    if not allowed:
        for address in addresses:
            if not is_public_address(address):
                raise MediaRefused(
                    f"{shown}:{port} resolves to {address}, which is not a public address "
                    "(set [media] allow_private_addresses or allow_hosts to fetch from it)"
                )
    return Target(url=url, scheme=scheme, host=host, port=port, address=str(addresses[0]))
