"""The relay's memory of commands: command_id -> outcome, on disk, for RETENTION_S.

`commands.sqlite3` in the state directory. Its own file, not a table of the outbox: a start's
outcome must be on disk, power cut included, before the answer leaves (one fsync per start:
about 0.3 ms on an SSD, bench/command_memory.py), while the outbox batches event writes without
an fsync; the two never share a transaction, and the outbox's schema stays the event pipeline's
alone. Other commands (keystrokes, one per key typed in a terminal) are committed without an
fsync (WAL, synchronous=NORMAL): they survive a relay crash, and the server never re-sends them,
so a slow SD card does not add an fsync to every key. Outcomes are kept a day, far longer than
the server waits for any answer (it re-sends unanswered starts at the next connection), then
pruned.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from protocol.messages import CommandResult
from relay.errors import OutboxError

COMMANDS_FILE = "commands.sqlite3"
RETENTION_S = 86400.0  # a day: the server re-sends unanswered starts at the next connection
PRUNE_EVERY = 100  # commands remembered between two prunes
BUSY_TIMEOUT_S = 5.0  # another process (an operator's sqlite3 shell) holding a lock
MAX_MESSAGE_CHARS = 1000  # a refusal's message, as remembered

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS commands (
    command_id TEXT PRIMARY KEY,
    ok INTEGER NOT NULL,
    code TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL  -- relay clock, for pruning only
);
"""


class CommandMemory:
    """command_id -> outcome, on disk, for RETENTION_S."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float]) -> None:
        self._conn = conn
        self._clock = clock
        self._since_prune = 0
        self._refused = False  # the last write failed (disk full): logged once

    @classmethod
    def open(cls, state_dir: Path, *, clock: Callable[[], float] = time.time) -> CommandMemory:
        path = state_dir / COMMANDS_FILE
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # remember(durable=True) raises it
            conn.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open command memory {path}: {exc}") from exc
        memory = cls(conn, clock)
        memory.prune()
        return memory

    def close(self) -> None:
        self._conn.close()

    def recall(self, command_id: str) -> CommandResult | None:
        """The outcome of a command seen before, or None."""
        row = self._conn.execute(
            "SELECT ok, code, message FROM commands WHERE command_id = ?", (command_id,)
        ).fetchone()
        if row is None:
            return None
        return CommandResult(command_id=command_id, ok=bool(row[0]), code=row[1], message=row[2])

    def remember(self, result: CommandResult, *, durable: bool = True) -> None:
        """Keep an outcome; `durable`: on disk (fsync) before this returns, power cut included.

        A disk that refuses the write (full, locked) does not fail the command: its answer still
        goes out, logged once per episode. Nothing runs twice because of it: a start the server
        re-sends later is past its deadline and refused unrun."""
        try:
            self._conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._conn.execute(
                "INSERT OR REPLACE INTO commands (command_id, ok, code, message, at)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    result.command_id,
                    int(result.ok),
                    result.code,
                    result.message[:MAX_MESSAGE_CHARS],
                    self._clock(),
                ),
            )
        except sqlite3.Error as exc:
            if not self._refused:
                log.warning("command memory: cannot write (%s); answers not remembered", exc)
            self._refused = True
            return
        if self._refused:
            log.warning("command memory: writing again")
            self._refused = False
        self._since_prune += 1
        if self._since_prune >= PRUNE_EVERY:
            self.prune()

    def prune(self) -> int:
        self._since_prune = 0
        cursor = self._conn.execute(
            "DELETE FROM commands WHERE at < ?", (self._clock() - RETENTION_S,)
        )
        return cursor.rowcount
