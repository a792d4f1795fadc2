-- current_visitors: visitors with an event in [$since, $until] (the dashboard passes
-- the last 5 minutes). Straight from the files: no sessions, no filters, like
-- Plausible's realtime counter.
-- Parameters: $files, $since, $until
-- Columns: visitors
SELECT count(DISTINCT visitor_id) AS visitors
FROM read_parquet($files)
WHERE ts >= $since AND ts <= $until
