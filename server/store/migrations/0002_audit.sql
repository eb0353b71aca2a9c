-- The audit log: append-only, each entry chained to the previous one by SHA-256.
-- hash = sha256(prev_hash || canonical JSON of [id, ts, actor, action, target, ip, device,
-- details]); see server/domain/audit.py. The triggers stop accidents and careless tools; the
-- chain and the head file (data_dir/audit.head) are what detect a deliberate edit.

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,          -- 1, 2, 3, ... with no gaps
    ts         REAL NOT NULL,                -- unix time, seconds
    actor      TEXT NOT NULL,                -- "user:<id>", "relay:<id>", "cli", "system"
    action     TEXT NOT NULL,                -- a fact: "relay_token_created", "login_succeeded"
    target     TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT '',
    device     TEXT NOT NULL DEFAULT '',
    details    TEXT NOT NULL DEFAULT '{}',   -- JSON object, keys sorted, as hashed
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
