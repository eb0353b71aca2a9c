-- `tether login URL`: a terminal asks to be signed in, its user approves the short code with a
-- passkey in the app, the terminal collects a token. The token is a session of that user of
-- kind 'terminal' (listed and revoked with the user's browsers); only hashes are stored.

ALTER TABLE browser_sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'browser'
    CHECK (kind IN ('browser', 'terminal'));

CREATE TABLE terminal_logins (
    id                   TEXT PRIMARY KEY,
    code_hash            TEXT NOT NULL UNIQUE,     -- sha256 hex of the 8-character code
    handle_hash          TEXT NOT NULL UNIQUE,     -- sha256 hex of the poll handle
    name                 TEXT NOT NULL,            -- what the terminal calls itself (its host)
    ip                   TEXT NOT NULL DEFAULT '', -- where the request came from
    requested_at         REAL NOT NULL,
    expires_at           REAL NOT NULL,            -- approve before, then collect before
    status               TEXT NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'approved', 'claimed')),
    challenge            TEXT NOT NULL DEFAULT '', -- the approving passkey prompt, answerable once
    challenge_user_id    TEXT NOT NULL DEFAULT '', -- who asked for that prompt
    challenge_expires_at REAL NOT NULL DEFAULT 0,
    user_id              TEXT REFERENCES users(id),            -- set on approval
    decided_at           REAL,
    session_id           TEXT REFERENCES browser_sessions(id)  -- set when collected
);
CREATE INDEX terminal_logins_by_status ON terminal_logins(status, expires_at);
