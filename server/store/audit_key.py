"""The audit chain's key file: the secret that makes the chain's hashes unforgeable.

The file (`audit.key` in the data directory, or the `audit_key_file` setting) holds a random
256-bit key and the number of the first entry chained with it:

    {"key": "<64 hex digits>", "keyed_from": N}

Entries before N were written before the key existed (an upgrade from an unkeyed chain). The
file lives outside the database on purpose: whoever can write the database but not this file
cannot recompute a single hash. It is created once, with O_EXCL and mode 0600, and never
rewritten; the store creates it inside a database write transaction so that two processes
never make two keys.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import msgspec

from server.store.db import StoreError

KEY_BYTES = 32  # HMAC-SHA256 key, 256 bits
KEY_FILE_MAX_BYTES = 4096  # a key file is ~100 bytes; anything bigger is not ours


class ChainKey(msgspec.Struct, frozen=True):
    key: str  # hex
    keyed_from: int  # the first entry hashed with the key; entries before it are unkeyed

    @property
    def secret(self) -> bytes:
        return bytes.fromhex(self.key)


def read_key(path: Path) -> ChainKey | None:
    """The key file's contents; None when there is none."""
    try:
        with path.open("rb") as f:
            data = f.read(KEY_FILE_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read the audit key file {path}: {exc}") from exc
    try:
        if len(data) > KEY_FILE_MAX_BYTES:
            raise ValueError("too big")
        found = msgspec.json.decode(data, type=ChainKey)
        if len(found.secret) != KEY_BYTES or found.keyed_from < 1:
            raise ValueError("not a 256-bit key and an entry number")
    except (ValueError, msgspec.DecodeError) as exc:
        raise StoreError(f"the audit key file {path} is malformed: {exc}") from exc
    return found


def create_key(path: Path, keyed_from: int) -> ChainKey:
    """Write a new key file (0600, fsynced); refuses to replace an existing one."""
    made = ChainKey(secrets.token_hex(KEY_BYTES), keyed_from)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise StoreError(f"the audit key file {path} appeared while creating it") from exc
    except OSError as exc:
        raise StoreError(f"cannot create the audit key file {path}: {exc}") from exc
    with os.fdopen(fd, "wb") as f:
        f.write(msgspec.json.encode(made) + b"\n")
        f.flush()
        os.fsync(f.fileno())
    return made
