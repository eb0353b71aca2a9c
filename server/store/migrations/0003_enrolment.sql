-- Relay enrolment requests: a relay asks, an admin approves its short code, the relay collects
-- its token with a secret poll handle. Only hashes of the code and the handle are stored.

CREATE TABLE relay_enrolments (
    id            TEXT PRIMARY KEY,
    code_hash     TEXT NOT NULL UNIQUE,          -- sha256 hex of the 8-character code
    handle_hash   TEXT NOT NULL UNIQUE,          -- sha256 hex of the poll handle
    name          TEXT NOT NULL,                 -- the name the relay asked for
    ip            TEXT NOT NULL DEFAULT '',      -- where the request came from
    requested_at  REAL NOT NULL,
    expires_at    REAL NOT NULL,                 -- approve before, then collect before
    status        TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'approved', 'denied', 'claimed')),
    relay_id      TEXT REFERENCES relays(id),    -- set on approval
    decided_by    TEXT NOT NULL DEFAULT '',
    decided_at    REAL
);
CREATE INDEX relay_enrolments_by_status ON relay_enrolments(status, expires_at);
