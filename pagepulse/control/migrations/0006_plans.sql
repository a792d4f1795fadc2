-- Plans and billing state (issue 7). The plans themselves (limits, prices, features)
-- are data in pagepulse/control/plans.toml; an account only records which one it is on.
-- In selfhosted mode none of this is enforced.
ALTER TABLE users ADD COLUMN plan TEXT NOT NULL DEFAULT 'free';

-- Every plan change, from the admin CLI or the payment webhook, for the statement page.
CREATE TABLE plan_changes (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    plan       TEXT NOT NULL,
    source     TEXT NOT NULL,  -- 'cli', 'webhook', 'signup'
    changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX plan_changes_user ON plan_changes (user_id, changed_at);

-- Webhook deliveries already applied (replay protection): the id is the SHA-256 of the
-- signed payload; rows older than the accepted timestamp window can be pruned.
CREATE TABLE webhook_deliveries (
    id          TEXT PRIMARY KEY,
    received_at REAL NOT NULL  -- unix seconds
);

-- Accounts over twice their monthly pageview limit two months in a row, for an admin.
CREATE TABLE account_flags (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    month      TEXT NOT NULL,  -- 'YYYY-MM', the second month over the limit
    reason     TEXT NOT NULL,
    flagged_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    cleared_at TEXT,
    PRIMARY KEY (user_id, month)
);
