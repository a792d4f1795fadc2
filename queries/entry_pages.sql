-- entry_pages: the first page of the scope's visits (Plausible's "Entry Pages":
-- unique and total entrances).
-- Parameters: $limit, $offset
-- Columns: name (pathname), visitors, visits, bounce_rate, visit_duration
SELECT
    entry_page AS name,
    count(DISTINCT visitor_id) AS visitors,
    count(*) AS visits,
    percent(count(*) FILTER (WHERE is_bounce), count(*)) AS bounce_rate,
    average_seconds(sum(duration_us), count(*)) AS visit_duration
FROM scope_visits
GROUP BY entry_page
ORDER BY visitors DESC, name
LIMIT $limit OFFSET $offset
