-- Weekly and monthly email reports (issue 7), opt-in per member and per site.
CREATE TABLE report_subscriptions (
    site_id INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind    TEXT NOT NULL CHECK (kind IN ('weekly', 'monthly')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (site_id, user_id, kind)
);

-- One row per report and period, claimed before sending: the primary key makes the
-- send happen once across workers and restarts. sent_at stays NULL until the SMTP
-- server accepted it, so a claim whose sender died can be retried.
CREATE TABLE report_sends (
    site_id      INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('weekly', 'monthly')),
    period_start TEXT NOT NULL,  -- local date the reported period starts
    claimed_at   REAL NOT NULL,  -- unix seconds
    sent_at      REAL,
    PRIMARY KEY (site_id, user_id, kind, period_start)
);
