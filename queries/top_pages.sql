-- top_pages: pages of the scope by unique visitors (Plausible's "Top Pages").
-- Parameters: $limit, $offset
-- Columns: name (pathname), visitors, pageviews, bounce_rate
--
-- visitors and pageviews count the page's pageviews (only the matching ones under a
-- page filter): the event:page sums of scope_groups, visitors counting "first
-- pageview of the visitor on this page" flags. bounce_rate is Plausible's: the
-- bounce rate of the visits that entered on this page (the visit:entry_page sums);
-- NULL for a page no visit entered on.
WITH page_stats AS (
    SELECT code, sum(visitors) AS visitors, sum(hits) AS pageviews
    FROM scope_groups
    WHERE dimension = 'event:page'
    GROUP BY code
),
entries AS (
    SELECT code, sum(visits) AS visits, sum(bounces) AS bounces
    FROM scope_groups
    WHERE dimension = 'visit:entry_page'
    GROUP BY code
)
SELECT
    page.value AS name,
    visitors::BIGINT AS visitors,
    pageviews::BIGINT AS pageviews,
    CASE WHEN entries.visits IS NULL THEN NULL ELSE percent(bounces, entries.visits) END AS bounce_rate
FROM page_stats
JOIN scope_strings AS page ON page.code = page_stats.code
LEFT JOIN entries ON entries.code = page_stats.code
ORDER BY visitors DESC, name
LIMIT $limit OFFSET $offset
