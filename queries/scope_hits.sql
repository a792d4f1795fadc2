-- scope_hits: the events the dashboard counts: events of the scope's visits that match
-- every event-level filter (page, event name, hostname). Third step of a dashboard
-- request; pageviews, custom events, top pages and goals read it.
-- Parameters: $filter_page, $filter_name, $filter_hostname
-- Columns: visitor_id, started_local, name, pathname
--
-- started_local is the visit's start: an event is counted in the bucket (and range)
-- of its visit's start, so buckets always add up to the totals.
CREATE OR REPLACE TEMP TABLE scope_hits AS
SELECT event.visitor_id, visit.started_local, event.name, event.pathname
FROM scope_events AS event
JOIN scope_visits AS visit
    ON visit.visitor_id = event.visitor_id AND visit.started_at = event.visit_start
WHERE matches_filter(event.pathname, $filter_page)
    AND matches_filter(event.name, $filter_name)
    AND matches_filter(event.hostname, $filter_hostname)
