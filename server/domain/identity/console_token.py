"""The console token: how `tether attach` on the server's own machine is let in.

`tether serve` keeps a random token in data_dir/console.token (mode 0600). A request that
presents it as a bearer token from a loopback address acts as the owner: whoever can read the
server's data directory can read its database and already owns the server (docs/security.md).
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from server.domain.identity.roles import Principal, Role
from server.domain.identity.tokens import hash_secret, new_secret

FILE_NAME = "console.token"
PREFIX = "tc_"
CONSOLE = Principal(user_id="console", name="console", role=Role.OWNER, via="console")


def load_or_create(data_dir: Path) -> str:
    """The token in data_dir/console.token, written (0600) when missing or malformed."""
    path = data_dir / FILE_NAME
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if token.startswith(PREFIX) and len(token) > len(PREFIX) + 32:
        return token
    token = new_secret(PREFIX)
    data_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.replace(temporary, path)
    return token


class ConsoleToken:
    def __init__(self, token: str) -> None:
        self._hash = hash_secret(token)

    def matches(self, presented: str) -> bool:
        return hmac.compare_digest(hash_secret(presented), self._hash)
