"""Who is the client: the peer address, or what trusted proxies say it was.

``X-Forwarded-For`` and ``Forwarded`` are written by whoever sends the request, so a header is
believed only as far as it was written by proxies the application trusts. The list is walked
from the right (the entry the nearest proxy appended) and the walk stops at the first address
that is not a trusted proxy: that address is the client. A request that does not come from a
trusted proxy is answered with its peer address, whatever its headers say.

Only one header is read (``X-Forwarded-For`` by default, or ``Forwarded``): a proxy that
writes one passes the other through unchanged, so reading both would let a client forge the
one the proxy does not write.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from typing import Literal

from tigerseal.errors import ConfigError

__all__ = ["ForwardedHeader", "TrustedProxies", "parse_address"]

ForwardedHeader = Literal["x-forwarded-for", "forwarded"]
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The entry that trusts a peer that is no IP address: a proxy on a Unix socket.
_UNIX = ("unix", "unix:")

# More hops than any real proxy chain; a longer header is only walked this far from the right.
_MAX_HOPS = 64


# Cached: the same peers and proxies come back on every request, and ipaddress parsing was
# most of what client identification cost. Bounded, so header values cannot grow it.
@functools.lru_cache(maxsize=4096)
def parse_address(text: str) -> _Address | None:
    """An IP address from a peer or header value, or ``None`` if it is not one.

    Accepts ``1.2.3.4``, ``1.2.3.4:8080``, ``2001:db8::1``, ``[2001:db8::1]:8080`` and quoted
    forms; an IPv4-mapped IPv6 address is returned as the IPv4 address.
    """
    text = text.strip().strip('"').strip()
    if not text or len(text) > 64:
        return None
    if text.startswith("["):
        end = text.find("]")
        rest = text[end + 1 :] if end > 0 else "x"
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return None
        text = text[1:end]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
        if not port.isdigit():
            return None
        text = host
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@functools.lru_cache(maxsize=4096)
def _canonical(peer: str) -> str:
    address = parse_address(peer)
    return peer if address is None else str(address)


def _split_quoted(value: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes (RFC 7239 quoted-strings may hold ``,`` and ``;``)."""
    parts: list[str] = []
    start, quoted, escaped = 0, False, False
    for i, ch in enumerate(value):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return parts


def _forwarded_for(element: str) -> str | None:
    """The ``for=`` parameter of one ``Forwarded`` element (``None`` if absent)."""
    for pair in _split_quoted(element, ";"):
        name, eq, value = pair.partition("=")
        if eq and name.strip().lower() == "for":
            return value.strip()
    return None


class TrustedProxies:
    """The proxies whose forwarding headers are believed, and the header they write.

    Args:
        proxies: addresses or CIDR networks of the reverse proxies / load balancers in front
            of the application (``"10.0.0.0/8"``, ``"127.0.0.1"``, ``"2001:db8::/32"``).
            ``"unix"``: a peer that is no IP address (a proxy connected over a Unix socket,
            where ``REMOTE_ADDR`` is empty or a path). Empty (the default): no header is
            believed; the client is the peer.
        header: ``"x-forwarded-for"`` (default) or ``"forwarded"`` (RFC 7239): the one header
            the proxies write (and overwrite or append to).

    Raises:
        ConfigError: an entry is not an address or network, or the header is unknown.
    """

    __slots__ = ("header", "networks", "unix")

    def __init__(
        self, proxies: Iterable[str] = (), *, header: ForwardedHeader = "x-forwarded-for"
    ) -> None:
        if isinstance(proxies, str):
            proxies = [p for p in proxies.split(",") if p.strip()]
        networks: list[_Network] = []
        unix = False
        for entry in proxies:
            if str(entry).strip().lower() in _UNIX:
                unix = True
                continue
            try:
                networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
            except ValueError:
                raise ConfigError(
                    f"trusted proxy {str(entry)[:64]!r} is not an IP address or CIDR network "
                    "(e.g. 10.0.0.0/8 or 127.0.0.1), or 'unix' for a proxy on a Unix socket"
                ) from None
        if header not in ("x-forwarded-for", "forwarded"):
            raise ConfigError(
                f"the forwarding header must be 'x-forwarded-for' or 'forwarded', got {header!r}"
            )
        self.networks: tuple[_Network, ...] = tuple(networks)
        self.unix = unix
        self.header: ForwardedHeader = header

    def __repr__(self) -> str:
        nets = ", ".join([*(str(n) for n in self.networks), *(["unix"] if self.unix else [])])
        return f"TrustedProxies([{nets}], header={self.header!r})"

    @property
    def reads_headers(self) -> bool:
        """Whether any proxy is trusted (else no forwarding header is ever read).

        A caller need not fetch the header then (with WSGI's environ, a header list is a scan).
        """
        return bool(self.networks) or self.unix

    def is_trusted(self, address: _Address | str) -> bool:
        """Whether ``address`` belongs to a trusted proxy (a non-IP peer: whether ``unix`` is)."""
        if isinstance(address, str):
            parsed = parse_address(address)
            if parsed is None:
                return self.unix
            address = parsed
        return any(address in net for net in self.networks)

    def hops(self, values: str | Sequence[str] | None) -> list[str]:
        """The addresses a forwarding header lists, oldest first (raw, unparsed).

        Args:
            values: the header's value, or its values in the order they appear (a header sent
                several times counts as one comma-joined list, RFC 9110).
        """
        if values is None:
            return []
        joined = values if isinstance(values, str) else ",".join(values)
        if self.header == "x-forwarded-for":
            return [h.strip() for h in joined.split(",")]
        return [_forwarded_for(e) or "" for e in _split_quoted(joined, ",")]

    def client_ip(self, peer: str | None, values: str | Sequence[str] | None = None) -> str:
        """The client's address for a request.

        Args:
            peer: the address of the TCP peer (``request.client.host``, ``REMOTE_ADDR``).
            values: the configured header's value(s) (see :meth:`hops`); ignored unless the
                peer is a trusted proxy.

        Returns:
            The first address from the right that is not a trusted proxy; the peer itself when
            the peer is not trusted. When a trusted proxy wrote something that is not an
            address (``unknown``, an obfuscated name), that proxy's address is returned: the
            client cannot be identified further, and guessing would let clients choose their
            identity. A peer that is no IP address (a Unix socket) is returned as given, or
            ``"unknown"`` when it is empty or absent, unless ``"unix"`` is trusted: then its
            header is walked like a trusted proxy's (``"unknown"`` if it names no address).
        """
        if not peer:
            if not self.unix:
                return "unknown"
            address = None
        elif not self.networks and not self.unix:
            return _canonical(peer)  # the common case, cached: no header can matter
        else:
            address = parse_address(peer)
            if address is None:
                if not self.unix:
                    return peer
            elif not any(address in net for net in self.networks):
                return str(address)
        # The peer is a trusted proxy: walk its header from the right.
        client = address
        if values:
            for raw in reversed(self.hops(values)[-_MAX_HOPS:]):
                hop = parse_address(raw)
                if hop is None:
                    break
                client = hop
                if not any(hop in net for net in self.networks):
                    break
        return "unknown" if client is None else str(client)
