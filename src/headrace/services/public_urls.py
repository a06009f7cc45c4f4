"""URLs the server may send to on a user's behalf: only public addresses (no SSRF).

A webhook's URL is checked when it is created and again at every delivery, after DNS
resolution: a name that resolved to a public address at creation may point at the server's
own network later. Every address the name resolves to must be public (``is_global``: not
loopback, private, link-local, shared, reserved or multicast; an IPv4-mapped IPv6 address
counts as its IPv4 address), unless ``HEADRACE_WEBHOOK_ALLOW_PRIVATE``. The delivery then
connects to the address that was checked, not to whatever a second lookup returns
(``Pinned``): the name goes only into the ``Host`` header and the TLS server name.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from headrace.domain.problems import Loc, Problem

_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL may not be sent to; the message says why, in the user's terms."""


@dataclass(frozen=True)
class Pinned:
    """A request's target bound to one checked address."""

    url: str  # the URL with the address in place of the host name
    host: str  # the Host header: the name (and port) of the URL
    server_name: str | None  # the TLS server name (https only)


def _split(url: str) -> tuple[SplitResult, str, int]:
    if len(url) > MAX_URL_LENGTH:
        raise Refused(f"is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise Refused(f"is not a valid URL ({err})") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise Refused("must start with http:// or https://")
    if not parts.hostname:
        raise Refused("has no host")
    if parts.username is not None or parts.password is not None:
        raise Refused("must not hold a user name or password")
    return parts, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def _resolve(host: str, port: int) -> list[Address]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError):
        raise Refused(f"names a host that does not resolve ({host})") from None
    addresses: list[Address] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Refused(f"names a host that does not resolve ({host})")
    return addresses


def _public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _checked(url: str, allow_private: bool) -> tuple[SplitResult, str, int, Address]:
    parts, host, port = _split(url)
    addresses = _resolve(host, port)
    if not allow_private:
        private = [a for a in addresses if not _public(a)]
        if private:
            raise Refused(
                f"resolves to {private[0]}, which is not a public address (loopback, private "
                "and link-local addresses are refused)"
            )
    return parts, host, port, addresses[0]


def problems(url: str, allow_private: bool, loc: Loc) -> list[Problem]:
    """What is wrong with ``url`` as a target, located at ``loc`` (empty: nothing)."""
    try:
        _checked(url, allow_private)
    except Refused as err:
        return [Problem(loc, f"the URL {err}", "webhooks.url_refused")]
    return []


def pin(url: str, allow_private: bool) -> Pinned:
    """Resolve and check ``url`` now and bind it to the address checked (``Refused``)."""
    parts, host, port, address = _checked(url, allow_private)
    shown = f"[{address}]" if address.version == 6 else str(address)
    default = port == _DEFAULT_PORTS[parts.scheme]
    netloc = shown if default else f"{shown}:{port}"
    named = parts.netloc.rsplit("@", 1)[-1]
    return Pinned(
        url=parts._replace(netloc=netloc).geturl(),
        host=named,
        server_name=host if parts.scheme == "https" else None,
    )
