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

-- The log, in chunks: each row holds consecutive events of one session (first_seq..last_seq,
-- no gaps) as the JSON that goes into a session_events frame. One row per session per
-- ingest transaction, so a burst of events costs one row, not one per event.
CREATE TABLE event_chunks (
    session_id       TEXT NOT NULL REFERENCES sessions(id),
    first_seq        INTEGER NOT NULL,
    last_seq         INTEGER NOT NULL,
    first_relay_seq  INTEGER,                -- null for events the server itself records
    last_relay_seq   INTEGER,
    last_ts          REAL NOT NULL,          -- relay time of the chunk's newest event
    body             BLOB NOT NULL,          -- {"seq","ts","event"} objects joined by commas
    PRIMARY KEY (session_id, first_seq),
    CHECK (last_seq >= first_seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX event_chunks_idempotency ON event_chunks(session_id, first_relay_seq);
CREATE INDEX event_chunks_by_end ON event_chunks(session_id, last_seq);

-- A session's summary follows its log in the same statement, so the common ingest (one chunk
-- of one session) commits with a single INSERT.
CREATE TRIGGER event_chunks_advance_session AFTER INSERT ON event_chunks
BEGIN
    UPDATE sessions
    SET last_seq = NEW.last_seq,
        last_relay_seq = COALESCE(NEW.last_relay_seq, last_relay_seq),
        last_activity_at = max(last_activity_at, NEW.last_ts)
    WHERE id = NEW.session_id;
END;
