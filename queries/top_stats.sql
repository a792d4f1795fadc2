-- top_stats: the dashboard's headline numbers for the scope.
-- Parameters: (none; reads scope_minutes)
-- Columns: visitors, visits, pageviews, views_per_visit, bounce_rate, visit_duration,
--   events
--
-- scope_minutes holds the visits' sums per local minute of their start, so this adds
-- up a few thousand rows. visitors is exact without a distinct count: it sums "first
-- visit of the visitor in the scope" flags (ids are day-scoped, so this is the sum
-- over UTC days of each day's distinct ids). pageviews and events are the visits'
-- matching ones (all of them without event filters).
WITH totals AS (
    SELECT
        coalesce(sum(visitors), 0) AS visitors,
        coalesce(sum(visits), 0) AS visits,
        coalesce(sum(pageviews), 0) AS pageviews,
        coalesce(sum(events), 0) AS events,
        coalesce(sum(bounces), 0) AS bounces,
        coalesce(sum(duration_us), 0) AS duration_us
    FROM scope_minutes
)
SELECT
    visitors::BIGINT AS visitors,
    visits::BIGINT AS visits,
    pageviews::BIGINT AS pageviews,
    ratio_2dp(pageviews, visits) AS views_per_visit,
    percent(bounces, visits) AS bounce_rate,
    average_seconds(duration_us, visits) AS visit_duration,
    events::BIGINT AS events
FROM totals
