-- Which passkey signed each browser session in: a passkey flagged for a counter that went
-- backwards may be re-approved only from a session another passkey signed in, and flagging one
-- signs out its own sessions. '' for sessions from before this column (no passkey known).

ALTER TABLE browser_sessions ADD COLUMN passkey_id TEXT NOT NULL DEFAULT '';
CREATE INDEX browser_sessions_by_passkey ON browser_sessions(passkey_id);
