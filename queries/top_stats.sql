-- top_stats: the dashboard's headline numbers for the scope.
-- Parameters: (none; reads scope_visits and scope_hits)
-- Columns: visitors, visits, pageviews, views_per_visit, bounce_rate, visit_duration,
--   events
--
-- visitors is an exact count(DISTINCT): visitor ids are day-scoped, so over any range
-- it already equals the sum over UTC days of each day's distinct ids.
WITH visit_stats AS (
    SELECT
        count(DISTINCT visitor_id) AS visitors,
        count(*) AS visits,
        count(*) FILTER (WHERE is_bounce) AS bounces,
        coalesce(sum(duration_us), 0) AS duration_us
    FROM scope_visits
),
hit_stats AS (
    SELECT
        count(*) FILTER (WHERE name = 'pageview') AS pageviews,
        count(*) FILTER (WHERE name <> 'pageview') AS events
    FROM scope_hits
)
SELECT
    visitors,
    visits,
    pageviews,
    ratio_2dp(pageviews, visits) AS views_per_visit,
    percent(bounces, visits) AS bounce_rate,
    average_seconds(duration_us, visits) AS visit_duration,
    events
FROM visit_stats, hit_stats
