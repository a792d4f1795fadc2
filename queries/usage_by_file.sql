-- usage_by_file: metered usage in each of the given lake files: pageviews and custom events.
-- Parameters: $files
-- Columns: file, pageviews, custom_events
--
-- Usage is billed per account and UTC month (pagepulse/control/usage.py). The site and
-- the UTC day of every row are already in its file's partition path, so this reads only
-- the dictionary-encoded `name` column, and answers per file, so each file is counted
-- once and its counts cached (by path, size and mtime). Callers pass live files only
-- (pagepulse.lake.layout skips the files compaction replaced): nothing is counted twice.
-- A file without rows has no row here (it counts zero).
SELECT
    filename AS file,
    count(*) FILTER (WHERE name = 'pageview') AS pageviews,
    count(*) FILTER (WHERE name <> 'pageview') AS custom_events
FROM read_parquet($files, filename = true)
GROUP BY filename
