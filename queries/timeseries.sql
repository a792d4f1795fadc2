-- timeseries: every metric per local-time bucket (minute, hour, day or month) of the
-- range, zero-filled, oldest first.
-- Parameters: $interval ('minute' | 'hour' | 'day' | 'month'), $start, $end, $tz
-- Columns: bucket (local TIMESTAMP), visitors, visits, pageviews, views_per_visit,
--   bounce_rate, visit_duration, events
--
-- Buckets are local wall-clock times, so a DST change gives a 23- or 25-hour day
-- (the repeated hour is one bucket, a skipped hour an empty one). Everything is
-- bucketed by its visit's start, so the buckets add up to top_stats. scope_minutes
-- holds the visits' sums per local minute; a visitor is counted once per bucket:
-- visitors_<interval> sums "first visit of the visitor in its bucket" flags.
-- ($start/$end are the scope's, cut to a realtime scope's since/until.)
WITH buckets AS (
    SELECT unnest(generate_series(
        date_trunc($interval, timezone($tz, $start)),
        date_trunc($interval, timezone($tz, $end) - INTERVAL 1 MICROSECOND),
        CASE $interval
            WHEN 'minute' THEN INTERVAL 1 MINUTE
            WHEN 'hour' THEN INTERVAL 1 HOUR
            WHEN 'day' THEN INTERVAL 1 DAY
            ELSE INTERVAL 1 MONTH
        END
    )) AS bucket
),
visit_stats AS (
    SELECT
        date_trunc($interval, minute) AS bucket,
        sum(CASE $interval
            WHEN 'minute' THEN visitors_minute
            WHEN 'hour' THEN visitors_hour
            WHEN 'day' THEN visitors_day
            ELSE visitors_month
        END) AS visitors,
        sum(visits) AS visits,
        sum(pageviews) AS pageviews,
        sum(events) AS events,
        sum(bounces) AS bounces,
        sum(duration_us) AS duration_us
    FROM scope_minutes
    GROUP BY 1
)
SELECT
    bucket,
    coalesce(visitors, 0)::BIGINT AS visitors,
    coalesce(visits, 0)::BIGINT AS visits,
    coalesce(pageviews, 0)::BIGINT AS pageviews,
    ratio_2dp(coalesce(pageviews, 0), coalesce(visits, 0)) AS views_per_visit,
    percent(coalesce(bounces, 0), coalesce(visits, 0)) AS bounce_rate,
    average_seconds(coalesce(duration_us, 0), coalesce(visits, 0)) AS visit_duration,
    coalesce(events, 0)::BIGINT AS events
FROM buckets
LEFT JOIN visit_stats USING (bucket)
ORDER BY bucket
