"""Random secrets and the hashes stored in their place."""

from __future__ import annotations

import hashlib
import secrets

SECRET_BYTES = 32  # 256 bits: session ids, invite and setup tokens, the console token
HANDLE_BYTES = 9  # public ids of users, passkeys, invites, sessions (not secrets)


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(SECRET_BYTES)


def new_handle() -> str:
    return secrets.token_hex(HANDLE_BYTES)


def hash_secret(secret: str) -> str:
    """What is stored for a secret: its SHA-256 (a 256-bit random value needs no slow hash)."""
    return hashlib.sha256(secret.encode()).hexdigest()
