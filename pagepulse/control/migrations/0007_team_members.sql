-- Team members (issue 7). The site's owner stays sites.owner_id (their plan applies);
-- everybody else who may see or manage a site has a row here.
CREATE TABLE site_members (
    site_id    INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (site_id, user_id)
);
CREATE INDEX site_members_user ON site_members (user_id);

-- Invitations by email: the link carries a random token; only its SHA-256 is stored.
-- Single use (accepted_at) and expiring (expires_at, unix seconds).
CREATE TABLE invitations (
    id          INTEGER PRIMARY KEY,
    site_id     INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    email       TEXT NOT NULL COLLATE NOCASE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    token_hash  TEXT NOT NULL UNIQUE,
    invited_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    expires_at  REAL NOT NULL,
    accepted_at REAL,
    revoked_at  REAL
);
CREATE INDEX invitations_site ON invitations (site_id);
