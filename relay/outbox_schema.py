"""The outbox database's schema and migrations (the queue itself is relay/outbox.py).

`outbox.sqlite3` in the state directory (WAL, synchronous=NORMAL) holds:

    outbox            id (send order), session_id, relay_seq, payload = JSON of a RelayEvent,
                      acked_at (NULL until the server committed it; acked rows are kept for the
                      retention window, relay/outbox_window.py)
    relay_sessions    session_id, last_relay_seq, state ('live' | 'ended'), agent, workspace,
                      start (the start_session command), resume (the agent's conversation id)
    pending_approvals approvals asked and not answered

Two partial indexes split the outbox by acked_at, so sending (unacked rows, oldest first) never
walks the kept rows and pruning (acked rows, oldest first) never walks the unsent ones. Acking
walks only the rows it marks: the outbox remembers below which relay_seq a session's rows are
all acked.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from relay.errors import OutboxError
from relay.outbox_faults import GuardedConnection

OUTBOX_FILE = "outbox.sqlite3"
SCHEMA_VERSION = 3
BUSY_TIMEOUT_MS = 5000  # another process (an operator's sqlite3 shell) holding a lock

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the link sends by id order
    session_id TEXT NOT NULL,
    relay_seq INTEGER NOT NULL,
    payload BLOB NOT NULL,
    acked_at REAL,  -- when the server committed it; NULL while it waits to be sent
    UNIQUE (session_id, relay_seq)
);
CREATE INDEX IF NOT EXISTS outbox_unacked ON outbox (id) WHERE acked_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_acked ON outbox (id) WHERE acked_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS relay_sessions (
    session_id TEXT PRIMARY KEY,
    last_relay_seq INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('live', 'ended')),
    agent TEXT NOT NULL DEFAULT '',
    workspace TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    ended_at REAL,
    start BLOB NOT NULL DEFAULT '',  -- JSON of the start_session command, to resume with
    resume TEXT NOT NULL DEFAULT ''  -- the agent's own conversation id
);
CREATE TABLE IF NOT EXISTS pending_approvals (  -- asked and not yet answered
    session_id TEXT NOT NULL,
    approval_id TEXT NOT NULL,
    PRIMARY KEY (session_id, approval_id)
);
"""
MIGRATIONS = {  # from user_version N to N + 1
    1: "ALTER TABLE relay_sessions ADD COLUMN start BLOB NOT NULL DEFAULT '';"
    " ALTER TABLE relay_sessions ADD COLUMN resume TEXT NOT NULL DEFAULT '';",
    2: "ALTER TABLE outbox ADD COLUMN acked_at REAL;",  # rows of version 2 were all unacked
}


def connect(state_dir: Path) -> sqlite3.Connection:
    """Open (creating or migrating) the outbox database; OutboxError when it cannot be used."""
    path = state_dir / OUTBOX_FILE
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, factory=GuardedConnection)
        conn.path = path
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise OutboxError(f"{path} was written by a newer relay (schema {version})")
        with conn:
            for step in range(version or SCHEMA_VERSION, SCHEMA_VERSION):
                conn.executescript(MIGRATIONS[step])
            conn.executescript(SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except sqlite3.Error as exc:
        raise OutboxError(f"cannot open outbox {path}: {exc}") from exc
    return conn
