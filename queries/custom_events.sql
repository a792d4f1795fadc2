-- custom_events: custom event names of the scope (every name but 'pageview'), as in
-- Plausible's goal list: unique visitors, total events, conversion rate.
-- Parameters: $limit, $offset
-- Columns: name, visitors, events, conversion_rate
--
-- conversion_rate = the name's visitors / all visitors of the scope (%, one decimal).
-- Under an event-name filter the scope is already those converters, so it reads 100.
WITH totals AS (
    SELECT count(DISTINCT visitor_id) AS visitors FROM scope_visits
)
SELECT
    name,
    count(DISTINCT visitor_id) AS visitors,
    count(*) AS events,
    percent_1dp(count(DISTINCT visitor_id), any_value(totals.visitors)) AS conversion_rate
FROM scope_hits, totals
WHERE name <> 'pageview'
GROUP BY name
ORDER BY visitors DESC, name
LIMIT $limit OFFSET $offset
