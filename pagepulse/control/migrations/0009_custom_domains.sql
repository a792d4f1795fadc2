-- Custom domains (issue 7): a site may serve its tracker, ingestion route and public
-- share dashboard on a host it controls, once a DNS TXT or CNAME record proves it.
-- The rules (who may claim a host, when a verified host is dropped) are in
-- pagepulse/control/custom_domains.py.
CREATE TABLE custom_domains (
    id                 INTEGER PRIMARY KEY,
    site_id            INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    hostname           TEXT NOT NULL COLLATE NOCASE,  -- lower-case ASCII (IDNA) host
    verification_token TEXT NOT NULL,
    verified_at        REAL,  -- unix seconds; NULL until the DNS check passed
    verified_by        TEXT CHECK (verified_by IN ('txt', 'cname')),  -- the last passing record
    last_checked_at    REAL,  -- unix seconds of the last check (or claim of a re-check)
    last_error         TEXT,  -- what the last failed check found; NULL after a pass
    failing_since      REAL,  -- a verified host's first failed check in a row (grace clock)
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
-- One custom domain per site.
CREATE UNIQUE INDEX custom_domains_site ON custom_domains (site_id);
-- Several sites may claim a host (so nobody can squat a name by claiming it first), but
-- only one can have it verified.
CREATE UNIQUE INDEX custom_domains_verified_host ON custom_domains (hostname)
    WHERE verified_at IS NOT NULL;
CREATE INDEX custom_domains_host ON custom_domains (hostname);
