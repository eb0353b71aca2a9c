-- Starts the relay has not answered yet, why a session is where it is, and idempotency keys.

-- Shown next to the status: "relay not answering" while a start waits, a refusal's reason after.
ALTER TABLE sessions ADD COLUMN detail TEXT NOT NULL DEFAULT '';
-- The start_session command (JSON, with its command_id and deadline) while its outcome is
-- unknown: re-sent, unchanged, on the relay's next connection; '' once the relay answered.
ALTER TABLE sessions ADD COLUMN pending_start BLOB NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN start_command_id TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_by_pending_start ON sessions(start_command_id) WHERE start_command_id != '';

-- A retried start with the same key from the same user gets the same session.
CREATE TABLE start_keys (
    actor        TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,            -- sha256 of the start's body: a reused key must match
    session_id   TEXT NOT NULL,
    created_at   REAL NOT NULL,
    PRIMARY KEY (actor, key)
);
CREATE INDEX start_keys_by_age ON start_keys(created_at);
