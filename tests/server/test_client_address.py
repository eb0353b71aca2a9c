"""server/http/client_address.py: whose forwarded headers count, and which address they yield."""

from __future__ import annotations

import pytest

from server.domain.ratelimit import address_key
from server.http.client_address import (
    UNUSABLE,
    ClientAddress,
    TrustedProxies,
    forwarding_headers,
)

NONE = TrustedProxies(())
CADDY = TrustedProxies(("127.0.0.1", "10.0.0.0/24"))


@pytest.mark.parametrize(
    ("trusted", "peer", "headers", "expected"),
    [
        (NONE, "127.0.0.1", {}, ClientAddress("127.0.0.1", False)),
        (NONE, "127.0.0.1", {"x-forwarded-for": "203.0.113.9"}, ClientAddress("127.0.0.1", True)),
        (NONE, "127.0.0.1", {"forwarded": "for=1.2.3.4"}, ClientAddress("127.0.0.1", True)),
        (CADDY, "127.0.0.1", {}, ClientAddress("127.0.0.1", False)),
        (
            CADDY,
            "127.0.0.1",
            {"x-forwarded-for": "203.0.113.9"},
            ClientAddress("203.0.113.9", False),
        ),
        # what the client wrote left of the proxy's entry is not believed
        (
            CADDY,
            "127.0.0.1",
            {"x-forwarded-for": "6.6.6.6, 203.0.113.9"},
            ClientAddress("203.0.113.9", False),
        ),
        # a chain of trusted proxies is walked to the first untrusted hop
        (
            CADDY,
            "127.0.0.1",
            {"x-forwarded-for": "203.0.113.9, 10.0.0.7"},
            ClientAddress("203.0.113.9", False),
        ),
        (
            CADDY,
            "127.0.0.1",
            {"x-forwarded-for": "10.0.0.8, 10.0.0.7"},
            ClientAddress("10.0.0.8", False),
        ),
        (CADDY, "127.0.0.1", {"x-forwarded-for": "not-an-address"}, ClientAddress(UNUSABLE, False)),
        (
            CADDY,
            "::ffff:127.0.0.1",
            {"x-forwarded-for": "2001:db8::1"},
            ClientAddress("2001:db8::1", False),
        ),
        (CADDY, "192.0.2.1", {"x-forwarded-for": "203.0.113.9"}, ClientAddress("192.0.2.1", True)),
    ],
)
def test_resolve(
    trusted: TrustedProxies, peer: str, headers: dict[str, str], expected: ClientAddress
) -> None:
    assert trusted.resolve(peer, headers) == expected


def test_repeated_forwarding_headers_are_joined_in_order() -> None:
    raw = [(b"X-Forwarded-For", b"1.1.1.1"), (b"host", b"x"), (b"x-forwarded-for", b"2.2.2.2")]
    assert forwarding_headers(raw) == {"x-forwarded-for": "1.1.1.1, 2.2.2.2"}


def test_an_ipv6_client_is_limited_as_its_slash_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("203.0.113.9") == "203.0.113.9"
