"""The audit log: who did what, when, from where; each entry chained to the one before.

    hash(n) = HMAC-SHA256( key, hash(n-1) || "\\n" || JSON [id, ts, actor, action, target, ip,
                                                          device, details] )

with hash(0) = GENESIS, `details` the entry's JSON object text (keys sorted) exactly as stored,
and `key` the chain key, kept in a file outside the database (server/store/audit_key.py).
Entries written before the key existed (numbered below its `keyed_from`) carry a plain SHA-256
of the same bytes: an upgraded log is re-anchored at its first keyed entry, whose HMAC covers
the hash of the last unkeyed one. Entries are numbered 1..N without gaps. Appends are
serialised by the store's write transaction, so the chain never forks. The head file, outside
the database too, holds the newest entry's number, hash and time under a MAC of the same key.
Checking a chain is audit_verify.py's.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from server.store.audit_key import ChainKey
from server.store.audit_store import AuditEntry, AuditHead, AuditStore
from server.store.db import StoreError

log = logging.getLogger(__name__)

GENESIS = "0" * 64
MAX_FIELD_CHARS = 512  # actor, action, target, ip, device: user agents are client-controlled
MAX_DETAILS_BYTES = 16 << 10  # one entry's details, encoded
CHAIN_KEYED = "audit.chain_keyed"  # the entry that re-anchors an upgraded, unkeyed chain
_encoder = msgspec.json.Encoder(order="sorted")


def entry_hash(
    prev_hash: str,
    *,
    id: int,
    ts: float,
    actor: str,
    action: str,
    target: str,
    ip: str,
    device: str,
    details: str,
    key: bytes | None = None,
) -> str:
    """The entry's hash: HMAC-SHA256 under `key`, plain SHA-256 for an unkeyed entry."""
    body = (
        prev_hash.encode()
        + b"\n"
        + _encoder.encode([id, ts, actor, action, target, ip, device, details])
    )
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def hash_of(entry: AuditEntry, chain_key: ChainKey | None) -> str:
    """The hash `entry` should carry, from its own fields, its prev_hash and the key that
    applies to its number (none below the key's `keyed_from`)."""
    keyed = chain_key is not None and entry.id >= chain_key.keyed_from
    return entry_hash(
        entry.prev_hash,
        id=entry.id,
        ts=entry.ts,
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        ip=entry.ip,
        device=entry.device,
        details=entry.details,
        key=chain_key.secret if keyed and chain_key else None,
    )


def head_mac(chain_key: ChainKey, count: int, hash: str, ts: float) -> str:
    body = b"audit.head\n" + _encoder.encode([count, hash, ts])
    return hmac.new(chain_key.secret, body, hashlib.sha256).hexdigest()


def head_of(entry: AuditEntry, chain_key: ChainKey) -> AuditHead:
    mac = head_mac(chain_key, entry.id, entry.hash, entry.ts)
    return AuditHead(count=entry.id, hash=entry.hash, ts=entry.ts, mac=mac)


def _clip(value: str) -> str:
    return value if len(value) <= MAX_FIELD_CHARS else value[: MAX_FIELD_CHARS - 1] + "…"


def _keyed_from(newest: AuditEntry | None) -> int:
    """Where a new key starts: after the newest entry, which must be an unkeyed one (a keyed
    log whose key file is gone cannot be continued: its history could no longer be checked)."""
    if newest is None:
        return 1
    if hash_of(newest, None) != newest.hash:
        raise StoreError(
            "the audit log was chained with a key, but the audit key file is missing: restore "
            "it from a backup (or point audit_key_file at it)"
        )
    return newest.id + 1


class Audit:
    def __init__(self, store: AuditStore) -> None:
        self._store = store
        self._key: ChainKey | None = None

    async def open(self) -> ChainKey:
        """The chain key, made on first use. Upgrading a log written without one records the
        re-anchoring as the first keyed entry."""
        if self._key is not None:
            return self._key
        self._key, made = await self._store.open_key(_keyed_from)
        if made and self._key.keyed_from > 1:
            unkeyed = self._key.keyed_from - 1
            log.info("audit log keyed: entries 1-%d stay unkeyed", unkeyed)
            await self.record(CHAIN_KEYED, actor="system", details={"unkeyed_before": unkeyed + 1})
        return self._key

    async def record(
        self,
        action: str,
        *,
        actor: str,
        target: str = "",
        ip: str = "",
        device: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one entry. `details` must encode as JSON; never put secrets in it."""
        chain_key = await self.open()
        encoded = _encoder.encode(dict(details or {})).decode()
        if len(encoded) > MAX_DETAILS_BYTES:
            raise ValueError(f"audit details of {action} are {len(encoded)} bytes, over the limit")
        draft = AuditEntry(
            id=0,
            ts=time.time(),
            actor=_clip(actor),
            action=_clip(action),
            target=_clip(target),
            ip=_clip(ip),
            device=_clip(device),
            details=encoded,
            prev_hash="",
            hash="",
        )

        def seal(last: AuditEntry | None) -> tuple[AuditEntry, AuditHead]:
            chained = msgspec.structs.replace(
                draft, id=last.id + 1 if last else 1, prev_hash=last.hash if last else GENESIS
            )
            entry = msgspec.structs.replace(chained, hash=hash_of(chained, chain_key))
            return entry, head_of(entry, chain_key)

        return await self._store.append(seal)
