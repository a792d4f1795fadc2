-- Custom domains (issue 7): a site may serve its tracker, ingestion route and public
-- share dashboard on a host it controls, once a DNS TXT or CNAME record proves it.
CREATE TABLE custom_domains (
    id                 INTEGER PRIMARY KEY,
    site_id            INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    hostname           TEXT NOT NULL UNIQUE COLLATE NOCASE,
    verification_token TEXT NOT NULL,
    verified_at        REAL,  -- unix seconds; NULL until the DNS check passed
    last_checked_at    REAL,
    last_error         TEXT,
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX custom_domains_site ON custom_domains (site_id);
