"""Who is on the other end of a request: the one decision about a client's address.

uvicorn's own proxy handling is off (server/cli.py): by default it believes `X-Forwarded-For`
from any loopback peer, so anything on the server's machine, or anyone reaching it through a
proxy Tether was not told about, could name any address it liked. Here the peer's forwarded
headers count only when the peer is one of the `trusted_proxies` (addresses or CIDR networks):

    peer not trusted            the peer's own address; a forwarding header it sent is noted
                                (`proxied`), so such a request is never taken for loopback
    peer trusted, X-Forwarded-For "a, b, c"
                                walked from the right, the first address that is not itself a
                                trusted proxy (what the proxy saw); the leftmost when all are
    peer trusted, no header     the peer's own address (the proxy asking for itself)

`AuthenticationMiddleware` (auth.py) applies it once per request and socket and rewrites the
ASGI scope's `client`, so the console-token-from-loopback rule, the rate limits, the audit log
and the lists of sessions and enrolments all see the same address.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDED_FOR = "x-forwarded-for"
FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")
UNUSABLE = "unknown"  # a trusted proxy forwarded something that is not an address
MAX_FORWARDED_HOPS = 32  # a longer chain is not walked further (its left end is never reached)


def forwarding_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The forwarding headers among an ASGI scope's raw headers; repeated ones joined by ", "."""
    found: dict[str, list[str]] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        if key in FORWARDING_HEADERS:
            found.setdefault(key, []).append(value.decode("latin-1"))
    return {key: ", ".join(values) for key, values in found.items()}


@dataclasses.dataclass(frozen=True)
class ClientAddress:
    host: str  # the address every decision uses
    proxied: bool  # a forwarding header came from a peer that is not a trusted proxy


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        found = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    return found.ipv4_mapped or found if isinstance(found, ipaddress.IPv6Address) else found


class TrustedProxies:
    def __init__(self, entries: Iterable[str]) -> None:
        """`entries` as server/settings.py validated them: "127.0.0.1", "10.0.0.0/8", "::1"."""
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in entries
        )

    def trusts(self, host: str) -> bool:
        address = _address(host)
        return address is not None and any(address in net for net in self.networks)

    def resolve(self, peer: str, headers: dict[str, str]) -> ClientAddress:
        """The client's address from the peer's and the forwarding headers (forwarding_headers)."""
        if not self.trusts(peer):
            return ClientAddress(_canonical(peer, peer), bool(headers))
        forwarded = headers.get(FORWARDED_FOR, "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()][-MAX_FORWARDED_HOPS:]
        if not hops:
            return ClientAddress(_canonical(peer, peer), False)
        for hop in reversed(hops):
            if not self.trusts(hop):
                return ClientAddress(_canonical(hop), False)
        return ClientAddress(_canonical(hops[0]), False)


def _canonical(host: str, otherwise: str = UNUSABLE) -> str:
    """One spelling per address (IPv4-mapped IPv6 as IPv4); `otherwise` for what is none."""
    address = _address(host)
    return str(address) if address is not None else otherwise
