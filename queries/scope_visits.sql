-- scope_visits: one row per visit of the scope: started in [$start, $end), matching
-- every visit-level filter, and (when event-level filters are set) containing at
-- least one event that matches all of them. Second step of a dashboard request.
-- Parameters: $files, $start, $end, $tz, $filter_page, $filter_name, $filter_hostname,
--   $filter_entry_page, $filter_exit_page, $filter_source, $filter_referrer,
--   $filter_utm_source, $filter_utm_medium, $filter_utm_campaign, $filter_utm_content,
--   $filter_utm_term, $filter_country, $filter_browser, $filter_browser_version,
--   $filter_os, $filter_os_version, $filter_device
-- Columns: visitor_id, started_at, started_local, duration_us, pageviews, is_bounce,
--   entry_page, exit_page, source, referrer, utm_source, utm_medium, utm_campaign,
--   utm_content, utm_term, country, browser, browser_version, os, os_version, device
--
-- Totals come from scope_events (already sessionised); the visit's attributes come
-- from its first event, fetched by a join on (visitor_id, ts = visit start) rather
-- than arg_min() over every event: arg_min keeps a string state per visit and
-- column, which measured several times slower. The ts range lets the Parquet reader
-- skip rows early; a visit's first event is in the range by definition. (Two events
-- of one visitor at the very same microsecond as the visit start would both join;
-- timestamps are taken on arrival, so this does not happen in practice.)
CREATE OR REPLACE TEMP TABLE scope_visits AS
WITH visit_totals AS (
    SELECT
        visitor_id,
        visit_start,
        epoch_us(max(ts)) - epoch_us(visit_start) AS duration_us,
        count(*) FILTER (WHERE name = 'pageview') AS pageviews,
        -- NULL when the visit has custom events only: it has no exit page.
        arg_max(pathname, ts) FILTER (WHERE name = 'pageview') AS exit_page,
        bool_or(
            matches_filter(pathname, $filter_page)
            AND matches_filter(name, $filter_name)
            AND matches_filter(hostname, $filter_hostname)
        ) AS has_matching_event
    FROM scope_events
    GROUP BY visitor_id, visit_start
),
first_events AS (
    SELECT
        visitor_id, ts AS visit_start, pathname AS entry_page, referrer_source AS source,
        referrer, utm_source, utm_medium, utm_campaign, utm_content, utm_term, country,
        browser, browser_version, os, os_version, device
    FROM read_parquet($files)
    WHERE ts >= $start AND ts < $end
)
SELECT
    visit.visitor_id,
    visit.visit_start AS started_at,
    timezone($tz, visit.visit_start) AS started_local,
    visit.duration_us,
    visit.pageviews,
    visit.pageviews = 1 AS is_bounce,
    first.entry_page,
    visit.exit_page,
    first.* EXCLUDE (visitor_id, visit_start, entry_page)
FROM visit_totals AS visit
JOIN first_events AS first USING (visitor_id, visit_start)
WHERE visit.has_matching_event
    AND matches_filter(first.entry_page, $filter_entry_page)
    AND matches_filter(coalesce(visit.exit_page, ''), $filter_exit_page)
    AND matches_filter(first.source, $filter_source)
    AND matches_filter(first.referrer, $filter_referrer)
    AND matches_filter(first.utm_source, $filter_utm_source)
    AND matches_filter(first.utm_medium, $filter_utm_medium)
    AND matches_filter(first.utm_campaign, $filter_utm_campaign)
    AND matches_filter(first.utm_content, $filter_utm_content)
    AND matches_filter(first.utm_term, $filter_utm_term)
    AND matches_filter(first.country, $filter_country)
    AND matches_filter(first.browser, $filter_browser)
    AND matches_filter(first.browser_version, $filter_browser_version)
    AND matches_filter(first.os, $filter_os)
    AND matches_filter(first.os_version, $filter_os_version)
    AND matches_filter(first.device, $filter_device)
