-- breakdown: visits of the scope grouped by one visit dimension (source, referrer,
-- utm_*, country, browser, browser version, OS, OS version, device), most visitors
-- first. One query for all of them, as in Plausible; the dimension is a bound
-- parameter checked against pagepulse.query.filters.BREAKDOWN_DIMENSIONS.
-- Parameters: $dimension, $limit, $offset
-- Columns: parent (the browser or OS of a version, else ''), name, visitors, visits,
--   bounce_rate, visit_duration
--
-- Reads scope_groups: per UTC day, the visits' sums by (parent, code) of each
-- dimension, visitors being the sum of "first visit of the visitor with this value"
-- flags (ids are day-scoped, so day sums add up exactly: no distinct count). Here
-- the days are added up and the names of the few resulting groups joined. Versions
-- group under their browser/OS: "Chrome 120" and "Edge 120" stay apart. Untagged visits ('' utm values, no referrer) are not a row of a utm/referrer
-- breakdown; '' stays a row elsewhere (the UI calls it "Direct / None", "Unknown").
WITH grouped AS (
    SELECT
        parent,
        code,
        sum(visitors) AS visitors,
        sum(visits) AS visits,
        sum(bounces) AS bounces,
        sum(duration_us) AS duration_us
    FROM scope_groups
    WHERE dimension = $dimension
    GROUP BY parent, code
)
SELECT
    coalesce(parent.value, '') AS parent,
    name.value AS name,
    visitors::BIGINT AS visitors,
    visits::BIGINT AS visits,
    percent(bounces, visits) AS bounce_rate,
    average_seconds(duration_us, visits) AS visit_duration
FROM grouped
JOIN scope_strings AS name ON name.code = grouped.code
LEFT JOIN scope_strings AS parent ON parent.code = grouped.parent
WHERE NOT (name.value = '' AND $dimension IN (
    'visit:referrer', 'visit:utm_source', 'visit:utm_medium', 'visit:utm_campaign',
    'visit:utm_content', 'visit:utm_term'
))
ORDER BY visitors DESC, name, parent
LIMIT $limit OFFSET $offset
