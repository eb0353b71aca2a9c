"""Persistence of the audit log, of its head file and of its key (both kept outside the database).

The head file (`audit.head` in the data directory) holds the number of entries, the hash of
the newest one, its time and a MAC of the three under the chain key. It is replaced atomically
inside each append's transaction, so that deleting the newest rows, which leaves a shorter but
internally valid chain, is still detected. The key file is audit_key.py's.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from server.store.audit_key import ChainKey, create_key, read_key
from server.store.db import Database, StoreError

HEAD_FILE_MAX_BYTES = 4096  # a head file is ~100 bytes; anything bigger is not ours
READ_BATCH_ROWS = 1000  # verify streams the log in batches of this many rows
_COLUMNS = "id, ts, actor, action, target, ip, device, details, prev_hash, hash"


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    ts: float
    actor: str
    action: str
    target: str
    ip: str
    device: str
    details: str  # JSON object text, exactly as hashed
    prev_hash: str
    hash: str


class AuditHead(msgspec.Struct, frozen=True, kw_only=True):
    count: int
    hash: str
    ts: float = 0.0  # the newest entry's time
    mac: str = ""  # HMAC of the three under the chain key; "" in head files of unkeyed chains


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        id=row[0],
        ts=row[1],
        actor=row[2],
        action=row[3],
        target=row[4],
        ip=row[5],
        device=row[6],
        details=row[7],
        prev_hash=row[8],
        hash=row[9],
    )


def read_head(path: Path) -> AuditHead | None:
    """The head file's contents; None when there is none."""
    try:
        with path.open("rb") as f:
            data = f.read(HEAD_FILE_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read the audit head file {path}: {exc}") from exc
    try:
        if len(data) > HEAD_FILE_MAX_BYTES:
            raise ValueError("too big")
        return msgspec.json.decode(data, type=AuditHead)
    except (ValueError, msgspec.DecodeError) as exc:
        raise StoreError(f"the audit head file {path} is malformed: {exc}") from exc


def write_head(path: Path, head: AuditHead | None) -> None:
    """Replace the head file atomically (write a sibling, fsync, rename); None removes it."""
    _restore_head(path, None if head is None else msgspec.json.encode(head) + b"\n")


def _head_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()[: HEAD_FILE_MAX_BYTES + 1]
    except OSError:
        return None


def _restore_head(path: Path, data: bytes | None) -> None:
    if data is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


def read_entries(database_path: Path) -> Iterator[AuditEntry]:
    """Every entry in id order, read through a read-only connection (verify never writes)."""
    if not database_path.exists():
        raise StoreError(f"no database at {database_path}")
    conn = sqlite3.connect(f"file:{database_path}?mode=ro", uri=True)
    try:
        after = 0
        while True:
            try:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM audit_log WHERE id > ? ORDER BY id LIMIT ?",
                    (after, READ_BATCH_ROWS),
                ).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the audit log in {database_path}: {exc}") from exc
            if not rows:
                return
            for row in rows:
                yield _entry(row)
            after = rows[-1][0]
    finally:
        conn.close()


Seal = Callable[[AuditEntry | None], tuple[AuditEntry, AuditHead]]


class AuditStore:
    def __init__(self, db: Database, head_path: Path, key_path: Path | None = None) -> None:
        self._db = db
        self.head_path = head_path
        self.key_path = key_path or head_path.with_name("audit.key")

    async def _newest(self, conn: Any) -> AuditEntry | None:
        async with conn.execute(
            f"SELECT {_COLUMNS} FROM audit_log ORDER BY id DESC LIMIT 1"
        ) as cursor:
            row = await cursor.fetchone()
        return _entry(tuple(row)) if row else None

    async def open_key(
        self, keyed_from: Callable[[AuditEntry | None], int]
    ) -> tuple[ChainKey, bool]:
        """The chain key, and whether it was made just now.

        A missing key file is created inside a write transaction (so two processes never make
        two keys), keyed from the entry number `keyed_from` chooses given the newest entry.
        """
        found = read_key(self.key_path)
        if found is not None:
            return found, False
        async with self._db.write() as conn:
            found = read_key(self.key_path)
            if found is not None:
                return found, False
            made = create_key(self.key_path, keyed_from(await self._newest(conn)))
        return made, True

    async def append(self, seal: Seal) -> AuditEntry:
        """Append the entry `seal` makes from the newest one (None when the log is empty), and
        write the head `seal` makes for it.

        Runs in one write transaction, which serialises appends across processes too (the
        server and the admin CLI), so the chain never forks. The head file is replaced before
        the commit and put back should the commit fail.
        """
        previous: bytes | None = None
        head_written = False
        try:
            async with self._db.write() as conn:
                entry, head = seal(await self._newest(conn))
                await conn.execute(
                    f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        entry.id,
                        entry.ts,
                        entry.actor,
                        entry.action,
                        entry.target,
                        entry.ip,
                        entry.device,
                        entry.details,
                        entry.prev_hash,
                        entry.hash,
                    ),
                )
                previous = _head_bytes(self.head_path)
                write_head(self.head_path, head)
                head_written = True
        except BaseException:
            if head_written:
                _restore_head(self.head_path, previous)
            raise
        return entry
