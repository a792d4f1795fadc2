-- timeseries: every metric per local-time bucket (hour, day or month) of the range,
-- zero-filled, oldest first.
-- Parameters: $interval ('hour' | 'day' | 'month'), $start, $end, $tz
-- Columns: bucket (local TIMESTAMP), visitors, visits, pageviews, views_per_visit,
--   bounce_rate, visit_duration, events
--
-- Buckets are local wall-clock times, so a DST change gives a 23- or 25-hour day
-- (the repeated hour is one bucket, a skipped hour an empty one). Everything is
-- bucketed by its visit's start, so the buckets add up to top_stats.
WITH buckets AS (
    SELECT unnest(generate_series(
        date_trunc($interval, timezone($tz, $start)),
        date_trunc($interval, timezone($tz, $end) - INTERVAL 1 MICROSECOND),
        CASE $interval
            WHEN 'hour' THEN INTERVAL 1 HOUR
            WHEN 'day' THEN INTERVAL 1 DAY
            ELSE INTERVAL 1 MONTH
        END
    )) AS bucket
),
visit_stats AS (
    SELECT
        date_trunc($interval, started_local) AS bucket,
        count(DISTINCT visitor_id) AS visitors,
        count(*) AS visits,
        count(*) FILTER (WHERE is_bounce) AS bounces,
        sum(duration_us) AS duration_us
    FROM scope_visits
    GROUP BY 1
),
hit_stats AS (
    SELECT
        date_trunc($interval, started_local) AS bucket,
        count(*) FILTER (WHERE name = 'pageview') AS pageviews,
        count(*) FILTER (WHERE name <> 'pageview') AS events
    FROM scope_hits
    GROUP BY 1
)
SELECT
    bucket,
    coalesce(visitors, 0) AS visitors,
    coalesce(visits, 0) AS visits,
    coalesce(pageviews, 0) AS pageviews,
    ratio_2dp(coalesce(pageviews, 0), coalesce(visits, 0)) AS views_per_visit,
    percent(coalesce(bounces, 0), coalesce(visits, 0)) AS bounce_rate,
    average_seconds(coalesce(duration_us, 0), coalesce(visits, 0)) AS visit_duration,
    coalesce(events, 0) AS events
FROM buckets
LEFT JOIN visit_stats USING (bucket)
LEFT JOIN hit_stats USING (bucket)
ORDER BY bucket
