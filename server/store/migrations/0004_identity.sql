-- Users, their passkeys, invites (the owner's setup link is an invite too), browser sessions and
-- pending WebAuthn challenges. Secrets (invite tokens, session ids) are stored as SHA-256 only.

CREATE TABLE users (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer')),
    grants       TEXT NOT NULL DEFAULT '[]',  -- JSON [{"relay_id", "workspace"}], "*" = all
    created_at   REAL NOT NULL,
    disabled_at  REAL
);

CREATE TABLE passkeys (
    id             TEXT PRIMARY KEY,              -- public handle for list / rename / revoke
    user_id        TEXT NOT NULL REFERENCES users(id),
    credential_id  BLOB NOT NULL UNIQUE,
    public_key     BLOB NOT NULL,                 -- COSE key
    sign_count     INTEGER NOT NULL DEFAULT 0,
    name           TEXT NOT NULL,
    created_at     REAL NOT NULL,
    last_used_at   REAL,
    revoked_at     REAL,
    flagged_at     REAL                           -- a signature counter went backwards
);
CREATE INDEX passkeys_by_user ON passkeys(user_id);

CREATE TABLE invites (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,             -- sha256 hex of the link's token
    kind        TEXT NOT NULL CHECK (kind IN ('setup', 'invite')),
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer')),
    grants      TEXT NOT NULL DEFAULT '[]',
    created_by  TEXT NOT NULL DEFAULT '',         -- user id; '' for the setup link
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL,
    used_at     REAL,
    used_by     TEXT,
    revoked_at  REAL
);

CREATE TABLE browser_sessions (
    id            TEXT PRIMARY KEY,               -- public handle for listing and revoking
    token_hash    TEXT NOT NULL UNIQUE,           -- sha256 hex of the cookie's value
    user_id       TEXT NOT NULL REFERENCES users(id),
    created_at    REAL NOT NULL,
    last_seen_at  REAL NOT NULL,
    ip            TEXT NOT NULL DEFAULT '',
    device        TEXT NOT NULL DEFAULT '',
    revoked_at    REAL
);
CREATE INDEX browser_sessions_by_user ON browser_sessions(user_id);

CREATE TABLE webauthn_challenges (
    challenge   TEXT PRIMARY KEY,                 -- base64url, as in clientDataJSON
    purpose     TEXT NOT NULL CHECK (purpose IN ('register', 'login')),
    user_id     TEXT NOT NULL DEFAULT '',         -- the user registering a passkey
    user_name   TEXT NOT NULL DEFAULT '',         -- a new user's name
    invite_id   TEXT NOT NULL DEFAULT '',         -- the invite a new user registers with
    expires_at  REAL NOT NULL
);
