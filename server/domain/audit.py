"""The audit log: who did what, when, from where; each entry chained to the one before.

    hash(n) = SHA-256( hash(n-1) || "\\n" || JSON [id, ts, actor, action, target, ip, device,
                                                   details] )

with hash(0) = GENESIS and `details` the entry's JSON object text (keys sorted) exactly as
stored. Entries are numbered 1..N without gaps. Appends are serialised by the store's write
transaction, so the chain never forks. `verify` walks the chain and compares its end with the
head file, which the store keeps outside the database (docs/security.md, "Audit log").
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from server.store.audit_store import AuditEntry, AuditHead, AuditStore

GENESIS = "0" * 64
MAX_FIELD_CHARS = 512  # actor, action, target, ip, device: user agents are client-controlled
MAX_DETAILS_BYTES = 16 << 10  # one entry's details, encoded
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
) -> str:
    body = _encoder.encode([id, ts, actor, action, target, ip, device, details])
    return hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()


def hash_of(entry: AuditEntry) -> str:
    """The hash `entry` should carry, computed from its own fields and its prev_hash."""
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
    )


def _clip(value: str) -> str:
    return value if len(value) <= MAX_FIELD_CHARS else value[: MAX_FIELD_CHARS - 1] + "…"


class Audit:
    def __init__(self, store: AuditStore) -> None:
        self._store = store

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

        def seal(last: AuditEntry | None) -> AuditEntry:
            chained = msgspec.structs.replace(
                draft, id=last.id + 1 if last else 1, prev_hash=last.hash if last else GENESIS
            )
            return msgspec.structs.replace(chained, hash=hash_of(chained))

        return await self._store.append(seal)


@dataclasses.dataclass(frozen=True)
class Verdict:
    ok: bool
    count: int  # entries whose links were checked
    head: str  # hash of the newest entry checked
    broken_id: int | None = None  # the entry at which the chain breaks, when it is known
    problem: str = ""
    unanchored: int = 0  # valid entries after the one the head file names (see verify)


def verify(entries: Iterable[AuditEntry], head: AuditHead | None) -> Verdict:
    """Check every link, then that the chain ends where the head file says.

    Entries after the head file's entry are reported (`unanchored`) but do not fail: a crash
    between an append's commit and its head file write cannot leave them, but a restore from
    a backup of the head file can. Their links are still checked.
    """
    prev_hash, count, anchored_hash = GENESIS, 0, ""
    for entry in entries:
        count += 1
        problem = _broken_link(entry, count, prev_hash)
        if problem is not None:
            return Verdict(False, count - 1, prev_hash, count, problem)
        prev_hash = entry.hash
        if head is not None and count == head.count:
            anchored_hash = entry.hash
    return _anchored(count, prev_hash, anchored_hash, head)


def _broken_link(entry: AuditEntry, count: int, prev_hash: str) -> str | None:
    """What is wrong with `entry` as the chain's entry number `count`, or None."""
    if entry.id != count:
        if entry.id > count:
            return f"it is missing: the next entry is {entry.id}"
        return f"an entry numbered {entry.id} is where entry {count} belongs"
    if entry.prev_hash != prev_hash:
        what = "the genesis hash" if count == 1 else f"the hash of entry {count - 1}"
        return f"its prev_hash is not {what}: entries were reordered, removed or replaced"
    if hash_of(entry) != entry.hash:
        return "its contents do not match its hash: the entry was edited"
    return None


def _anchored(count: int, prev_hash: str, anchored_hash: str, head: AuditHead | None) -> Verdict:
    """The verdict on a chain of `count` whole links, against the head file."""
    if head is None:
        if count == 0:
            return Verdict(True, 0, GENESIS)
        problem = "the head file is missing, so deleting the newest entries would go unnoticed"
        return Verdict(False, count, prev_hash, None, problem)
    if count < head.count:
        problem = (
            f"the head file records {head.count} entries but the log ends at {count}: "
            "the newest entries were deleted"
        )
        return Verdict(False, count, prev_hash, count + 1, problem)
    if anchored_hash != head.hash:
        problem = "it does not match the hash in the head file: the log was rewritten up to here"
        return Verdict(False, count, prev_hash, head.count, problem)
    return Verdict(True, count, prev_hash, unanchored=count - head.count)
