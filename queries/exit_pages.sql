-- exit_pages: the last pageview's page of the scope's visits (Plausible's "Exit
-- Pages": unique exits, total exits, exit rate).
-- Parameters: $limit, $offset
-- Columns: name (pathname), visitors, visits, exit_rate
--
-- exit_rate = exits / pageviews of that page (%), pageviews being the scope's
-- (matching) ones: the hits of the event:page sums. Visits without a pageview have
-- no exit page (code -1) and are not a row.
WITH exits AS (
    SELECT code, sum(visitors) AS visitors, sum(visits) AS visits
    FROM scope_groups
    WHERE dimension = 'visit:exit_page' AND code >= 0
    GROUP BY code
),
page_views AS (
    SELECT code, sum(hits) AS pageviews
    FROM scope_groups
    WHERE dimension = 'event:page'
    GROUP BY code
)
SELECT
    page.value AS name,
    visitors::BIGINT AS visitors,
    visits::BIGINT AS visits,
    CASE WHEN pageviews IS NULL THEN NULL ELSE percent(visits, pageviews) END AS exit_rate
FROM exits
JOIN scope_strings AS page ON page.code = exits.code
LEFT JOIN page_views ON page_views.code = exits.code
ORDER BY visitors DESC, name
LIMIT $limit OFFSET $offset
