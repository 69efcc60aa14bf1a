"""Client address from the peer and forwarding headers: only trusted proxies are believed."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tigerseal.errors import ConfigError
from tigerseal.web import TrustedProxies, parse_address

PROXIES = TrustedProxies(["10.0.0.0/8", "127.0.0.1", "2001:db8:ffff::/48"])


def test_untrusted_peer_with_spoofed_xff_is_the_client() -> None:
    # The attacker connects directly and claims to be someone else.
    assert PROXIES.client_ip("203.0.113.9", "198.51.100.1") == "203.0.113.9"
    assert PROXIES.client_ip("203.0.113.9", "10.0.0.5, 127.0.0.1") == "203.0.113.9"


def test_no_trusted_proxies_means_no_header_is_believed() -> None:
    assert TrustedProxies().client_ip("203.0.113.9", "198.51.100.1") == "203.0.113.9"
    assert TrustedProxies().client_ip("127.0.0.1", "198.51.100.1") == "127.0.0.1"


def test_trusted_proxy_names_the_client() -> None:
    assert PROXIES.client_ip("10.1.2.3", "198.51.100.7") == "198.51.100.7"


def test_walks_from_the_right_through_trusted_proxies_only() -> None:
    # The client prepended a spoofed entry; the edge proxy appended the real address.
    header = "1.2.3.4, 198.51.100.7, 10.0.0.2"
    assert PROXIES.client_ip("10.0.0.1", header) == "198.51.100.7"


def test_spoofed_trusted_address_behind_a_real_client_is_not_believed() -> None:
    # A client claiming to be a trusted proxy (10.9.9.9) cannot move the walk past itself.
    assert PROXIES.client_ip("10.0.0.1", "6.6.6.6, 10.9.9.9, 198.51.100.7") == "198.51.100.7"


def test_all_hops_trusted_gives_the_leftmost() -> None:
    assert PROXIES.client_ip("10.0.0.1", "10.0.0.3, 10.0.0.2") == "10.0.0.3"


def test_repeated_header_values_are_one_list() -> None:
    assert PROXIES.client_ip("10.0.0.1", ["6.6.6.6", "198.51.100.7, 10.0.0.2"]) == "198.51.100.7"


def test_garbage_written_through_a_trusted_proxy_stops_the_walk_at_that_proxy() -> None:
    assert PROXIES.client_ip("10.0.0.1", "198.51.100.7, unknown, 10.0.0.2") == "10.0.0.2"
    assert PROXIES.client_ip("10.0.0.1", "evil\r\nX: y") == "10.0.0.1"
    assert PROXIES.client_ip("10.0.0.1", "") == "10.0.0.1"
    assert PROXIES.client_ip("10.0.0.1", None) == "10.0.0.1"


def test_ports_brackets_and_mapped_addresses() -> None:
    assert PROXIES.client_ip("10.0.0.1", "198.51.100.7:4711") == "198.51.100.7"
    assert PROXIES.client_ip("10.0.0.1", "[2001:db8::17]:4711") == "2001:db8::17"
    assert PROXIES.client_ip("10.0.0.1", "2001:db8::17") == "2001:db8::17"
    assert PROXIES.client_ip("::ffff:10.0.0.1", "198.51.100.7") == "198.51.100.7"
    assert PROXIES.client_ip("::ffff:203.0.113.9", "198.51.100.7") == "203.0.113.9"


def test_peer_that_is_no_address() -> None:
    assert PROXIES.client_ip(None, "198.51.100.7") == "unknown"
    assert PROXIES.client_ip("/run/app.sock", "198.51.100.7") == "/run/app.sock"


def test_forwarded_header() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"], header="forwarded")
    header = 'for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, For=10.0.0.2;by=10.0.0.1'
    assert proxies.client_ip("10.0.0.1", header) == "2001:db8:cafe::17"
    assert proxies.client_ip("10.0.0.1", 'for="_hidden", for=10.0.0.2') == "10.0.0.2"
    assert proxies.client_ip("10.0.0.1", 'proto=http;host="a,b", for=198.51.100.7') == (
        "198.51.100.7"
    )
    # A quoted comma does not split the element.
    assert proxies.hops('for="a,b";proto=http, for=1.2.3.4') == ['"a,b"', "1.2.3.4"]


def test_only_the_configured_header_is_read() -> None:
    # A proxy writing X-Forwarded-For passes a client's Forwarded through: ignore it.
    xff = TrustedProxies(["10.0.0.0/8"])
    assert xff.client_ip("10.0.0.1", "198.51.100.7") == "198.51.100.7"
    assert xff.header == "x-forwarded-for"


def test_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="not an IP address or CIDR"):
        TrustedProxies(["10.0.0.0/33"])
    with pytest.raises(ConfigError, match="forwarding header"):
        TrustedProxies([], header="x-real-ip")  # type: ignore[arg-type]
    assert TrustedProxies("10.0.0.0/8, 127.0.0.1").is_trusted("127.0.0.1")
    assert not PROXIES.is_trusted("not an address")


def test_parse_address() -> None:
    assert parse_address("1.2.3.4") == ipaddress.ip_address("1.2.3.4")
    assert parse_address(" 1.2.3.4:80 ") == ipaddress.ip_address("1.2.3.4")
    for bad in ("", "1.2.3.4:x", "[::1", "[::1]x", "[::1]:", "1.2.3.4.5", "x" * 100):
        assert parse_address(bad) is None


addresses = st.one_of(
    st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str), st.text(max_size=20)
)


@given(st.ip_addresses(v=4), st.lists(addresses, max_size=8))
def test_untrusted_peer_always_wins(peer: ipaddress.IPv4Address, hops: list[str]) -> None:
    if PROXIES.is_trusted(peer):
        return
    assert PROXIES.client_ip(str(peer), ", ".join(hops)) == str(peer)


@given(st.lists(addresses, max_size=8))
def test_result_is_the_peer_or_a_listed_address(hops: list[str]) -> None:
    result = PROXIES.client_ip("10.0.0.1", ", ".join(hops))
    listed = {str(a) for a in (parse_address(h) for h in ", ".join(hops).split(",")) if a}
    assert result == "10.0.0.1" or result in listed
