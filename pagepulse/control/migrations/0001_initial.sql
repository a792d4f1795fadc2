-- Users, sites and the daily visitor-hash salts.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TABLE sites (
    id         INTEGER PRIMARY KEY,
    domain     TEXT NOT NULL UNIQUE COLLATE NOCASE,
    timezone   TEXT NOT NULL DEFAULT 'UTC',
    owner_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    enabled    INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX sites_owner ON sites (owner_id);

-- One salt per UTC day; rows older than yesterday are deleted at rotation (48 h at most).
CREATE TABLE salts (
    day  TEXT PRIMARY KEY,
    salt BLOB NOT NULL
);
