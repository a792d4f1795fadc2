-- exit_pages: the last pageview's page of the scope's visits (Plausible's "Exit
-- Pages": unique exits, total exits, exit rate).
-- Parameters: $limit, $offset
-- Columns: name (pathname), visitors, visits, exit_rate
--
-- exit_rate = exits / pageviews of that page (%), pageviews as counted in
-- scope_hits. Visits without a pageview have no exit page and are not a row.
WITH exits AS (
    SELECT exit_page AS name, count(DISTINCT visitor_id) AS visitors, count(*) AS visits
    FROM scope_visits
    WHERE exit_page IS NOT NULL
    GROUP BY exit_page
),
page_views AS (
    SELECT pathname AS name, count(*) AS pageviews
    FROM scope_hits
    WHERE name = 'pageview'
    GROUP BY pathname
)
SELECT
    exits.name,
    visitors,
    visits,
    CASE WHEN pageviews IS NULL THEN NULL ELSE percent(visits, pageviews) END AS exit_rate
FROM exits
LEFT JOIN page_views USING (name)
ORDER BY visitors DESC, exits.name
LIMIT $limit OFFSET $offset
