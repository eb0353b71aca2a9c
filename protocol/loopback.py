"""Whether a server URL names this machine: where a credential meant for loopback may go.

The console token is only ever sent to a loopback server, and a relay or terminal client
refuses plain http:// to anything else (it would carry a token in clear text). Only what the
URL says counts, never what a name resolves to: `localhost` (and names under `.localhost`,
RFC 6761) and loopback addresses (127.0.0.0/8, ::1).
"""

from __future__ import annotations

import ipaddress
import urllib.parse


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """`url` (http(s):// or ws(s)://) names a loopback host."""
    try:
        host = urllib.parse.urlsplit(url).hostname
    except ValueError:
        return False
    return host is not None and is_loopback_host(host)


def is_plain_remote(url: str) -> bool:
    """An unencrypted (http:// or ws://) URL of another machine."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return scheme in ("http", "ws") and not is_loopback_url(url)
