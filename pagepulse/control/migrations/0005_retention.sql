-- Per-site retention of raw events: keep N months (NULL: forever). Enforced by the
-- lake's scheduled job (pagepulse.lake.retention), which deletes whole UTC days.
ALTER TABLE sites ADD COLUMN retention_months INTEGER CHECK (retention_months > 0);
