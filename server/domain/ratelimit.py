"""A per-key sliding-window rate limiter, in memory, for attempts that must stay rare.

`check(key)` records one attempt for `key` (an address, a user) and raises RateLimitedError
when more than `limit` attempts fell within the last `window_s` seconds. At most `max_keys`
keys are tracked; the least recently used are forgotten first, so memory stays bounded even
when attempts come from many addresses. `check_address(ip)` keys by `address_key(ip)`: one IPv4
address, or one IPv6 /64, since a single host is routinely given a whole /64 and could rotate
through it.
"""

from __future__ import annotations

import collections
import ipaddress
import time
from collections.abc import Callable

from server.domain.errors import RateLimitedError

MAX_KEYS = 10_000
IPV6_CLIENT_PREFIX = 64  # the network one IPv6 subscriber (one host, often) is given


def address_key(ip: str) -> str:
    """What limits count per client: the IPv4 address, or the IPv6 address's /64."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/{IPV6_CLIENT_PREFIX}", strict=False))
    return ip


class RateLimiter:
    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._max_keys = max_keys
        self._clock = clock
        self._attempts: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )

    def check_address(self, ip: str, what: str = "attempts") -> None:
        """`check` for a client address (see address_key)."""
        self.check(address_key(ip), what)

    def check(self, key: str, what: str = "attempts") -> None:
        now = self._clock()
        attempts = self._attempts.pop(key, None) or collections.deque(maxlen=self.limit)
        self._attempts[key] = attempts  # most recently used last
        while attempts and attempts[0] <= now - self.window_s:
            attempts.popleft()
        if len(attempts) >= self.limit:
            retry_s = max(1, round(attempts[0] + self.window_s - now))
            raise RateLimitedError(f"too many {what}; try again in {retry_s} s")
        attempts.append(now)
        while len(self._attempts) > self._max_keys:
            self._attempts.popitem(last=False)
