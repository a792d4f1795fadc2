-- top_pages: pages of the scope by unique visitors (Plausible's "Top Pages").
-- Parameters: $limit, $offset
-- Columns: name (pathname), visitors, pageviews, bounce_rate
--
-- visitors and pageviews count the page's pageviews (only the matching ones under a
-- page filter). bounce_rate is Plausible's: the bounce rate of the visits that
-- entered on this page; NULL for a page no visit entered on.
WITH page_stats AS (
    SELECT pathname AS name, count(DISTINCT visitor_id) AS visitors, count(*) AS pageviews
    FROM scope_hits
    WHERE name = 'pageview'
    GROUP BY pathname
),
entries AS (
    SELECT entry_page AS name, count(*) AS visits, count(*) FILTER (WHERE is_bounce) AS bounces
    FROM scope_visits
    GROUP BY entry_page
)
SELECT
    page_stats.name,
    visitors,
    pageviews,
    CASE WHEN entries.visits IS NULL THEN NULL ELSE percent(bounces, entries.visits) END AS bounce_rate
FROM page_stats
LEFT JOIN entries USING (name)
ORDER BY visitors DESC, page_stats.name
LIMIT $limit OFFSET $offset
