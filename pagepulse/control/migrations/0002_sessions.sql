-- Log-in sessions and failed log-in attempts, for the web accounts pages.

-- The cookie carries a random id; only its SHA-256 is stored, so a copy of this
-- file cannot be replayed as a log-in. Expiry slides forward on use (pagepulse.web.auth).
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    expires_at REAL NOT NULL  -- unix seconds
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Keyed by an HMAC of the normalised email, not the user id: unknown addresses lock
-- exactly like real ones, so a lock-out does not reveal that an account exists.
-- Client addresses are never stored here (the per-address limit is in memory).
CREATE TABLE login_failures (
    account_key TEXT NOT NULL,
    failed_at   REAL NOT NULL  -- unix seconds
);
CREATE INDEX login_failures_account ON login_failures (account_key, failed_at);
