-- Relays, sessions and the per-session event log.

CREATE TABLE relays (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    token_hash    TEXT NOT NULL UNIQUE,      -- sha256 hex of the relay token
    created_at    REAL NOT NULL,
    revoked_at    REAL,
    last_seen_at  REAL,
    hostname      TEXT NOT NULL DEFAULT '',
    info          BLOB NOT NULL DEFAULT '{}' -- the relay's last relay_info message
);

CREATE TABLE sessions (
    id                TEXT PRIMARY KEY,
    relay_id          TEXT NOT NULL REFERENCES relays(id),
    epoch             TEXT NOT NULL,
    agent             TEXT NOT NULL DEFAULT '',
    workspace         TEXT NOT NULL DEFAULT '',
    title             TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL DEFAULT 'starting',
    created_at        REAL NOT NULL,
    last_activity_at  REAL NOT NULL,
    last_seq          INTEGER NOT NULL DEFAULT 0,
    last_relay_seq    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_by_relay ON sessions(relay_id);

CREATE TABLE events (
    session_id  TEXT NOT NULL REFERENCES sessions(id),
    seq         INTEGER NOT NULL,
    relay_seq   INTEGER,                     -- null for events the server itself records
    ts          REAL NOT NULL,
    kind        TEXT NOT NULL,
    body        BLOB NOT NULL,               -- the event, msgspec JSON
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX events_idempotency ON events(session_id, relay_seq);
