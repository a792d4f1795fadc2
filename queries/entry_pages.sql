-- entry_pages: the first page of the scope's visits (Plausible's "Entry Pages":
-- unique and total entrances).
-- Parameters: $limit, $offset
-- Columns: name (pathname), visitors, visits, bounce_rate, visit_duration
--
-- The day sums of the visit:entry_page dimension in scope_groups, added up (visitors
-- counts "first visit of the visitor entering on that page" flags); names joined for
-- the groups only.
WITH grouped AS (
    SELECT
        code,
        sum(visitors) AS visitors,
        sum(visits) AS visits,
        sum(bounces) AS bounces,
        sum(duration_us) AS duration_us
    FROM scope_groups
    WHERE dimension = 'visit:entry_page'
    GROUP BY code
)
SELECT
    page.value AS name,
    visitors::BIGINT AS visitors,
    visits::BIGINT AS visits,
    percent(bounces, visits) AS bounce_rate,
    average_seconds(duration_us, visits) AS visit_duration
FROM grouped
JOIN scope_strings AS page ON page.code = grouped.code
ORDER BY visitors DESC, name
LIMIT $limit OFFSET $offset
