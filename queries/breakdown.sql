-- breakdown: visits of the scope grouped by one visit dimension (source, referrer,
-- utm_*, country, browser, browser version, OS, OS version, device), most visitors
-- first. One query for all of them, as in Plausible; the dimension is a bound
-- parameter checked against pagepulse.query.filters.BREAKDOWN_DIMENSIONS.
-- Parameters: $dimension, $limit, $offset
-- Columns: parent (the browser or OS of a version, else ''), name, visitors, visits,
--   bounce_rate, visit_duration
--
-- Versions group under their browser/OS: "Chrome 120" and "Edge 120" stay apart.
-- Untagged visits ('' utm values, no referrer) are not a row of a utm/referrer
-- breakdown; '' stays a row elsewhere (the UI calls it "Direct / None", "Unknown").
WITH valued AS (
    SELECT
        CASE $dimension
            WHEN 'visit:browser_version' THEN browser
            WHEN 'visit:os_version' THEN os
            ELSE ''
        END AS parent,
        CASE $dimension
            WHEN 'visit:source' THEN source
            WHEN 'visit:referrer' THEN referrer
            WHEN 'visit:utm_source' THEN utm_source
            WHEN 'visit:utm_medium' THEN utm_medium
            WHEN 'visit:utm_campaign' THEN utm_campaign
            WHEN 'visit:utm_content' THEN utm_content
            WHEN 'visit:utm_term' THEN utm_term
            WHEN 'visit:country' THEN country
            WHEN 'visit:browser' THEN browser
            WHEN 'visit:browser_version' THEN browser_version
            WHEN 'visit:os' THEN os
            WHEN 'visit:os_version' THEN os_version
            WHEN 'visit:device' THEN device
        END AS name,
        visitor_id,
        is_bounce,
        duration_us
    FROM scope_visits
)
SELECT
    parent,
    name,
    count(DISTINCT visitor_id) AS visitors,
    count(*) AS visits,
    percent(count(*) FILTER (WHERE is_bounce), count(*)) AS bounce_rate,
    average_seconds(sum(duration_us), count(*)) AS visit_duration
FROM valued
WHERE name IS NOT NULL
    AND NOT (name = '' AND $dimension IN (
        'visit:referrer', 'visit:utm_source', 'visit:utm_medium', 'visit:utm_campaign',
        'visit:utm_content', 'visit:utm_term'
    ))
GROUP BY parent, name
ORDER BY visitors DESC, name, parent
LIMIT $limit OFFSET $offset
