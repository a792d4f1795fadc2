-- custom_events: custom event names of the scope (every name but 'pageview'), as in
-- Plausible's goal list: unique visitors, total events, conversion rate.
-- Parameters: $limit, $offset
-- Columns: name, visitors, events, conversion_rate
--
-- conversion_rate = the name's visitors / all visitors of the scope (%, one decimal).
-- Under an event-name filter the scope is already those converters, so it reads 100.
-- The event:name sums of scope_groups hold custom events only; visitors counts
-- "first event of the visitor with this name" flags.
WITH totals AS (
    SELECT coalesce(sum(visitors), 0) AS visitors FROM scope_minutes
),
grouped AS (
    SELECT code, sum(visitors) AS visitors, sum(hits) AS events
    FROM scope_groups
    WHERE dimension = 'event:name'
    GROUP BY code
)
SELECT
    event.value AS name,
    grouped.visitors::BIGINT AS visitors,
    events::BIGINT AS events,
    percent_1dp(grouped.visitors, totals.visitors) AS conversion_rate
FROM grouped
JOIN scope_strings AS event ON event.code = grouped.code
CROSS JOIN totals
ORDER BY visitors DESC, name
LIMIT $limit OFFSET $offset
