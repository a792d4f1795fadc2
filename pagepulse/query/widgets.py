"""The dashboard's widgets, and one call that answers all of them for a request.

A widget is a name, the query that answers it, fixed parameters (a breakdown's
dimension) and a default page size; :data:`WIDGETS` is the registry the web layer
and the Stats API iterate over. Each widget name is also the name of its rows in
:func:`dashboard`'s answer. New logic belongs in a ``queries/*.sql`` file and a
registry entry here, not in the web layer.

Everything counts visits *by their start*: a visit belongs to the range (and to the
timeseries bucket) in which its first event falls, with all its events, even those
after the range ends; a visit already running when the range starts is left out.
Plausible does the same with its sessions. This keeps every number consistent:
buckets add up to totals, pageviews per visit are the visits' own.

Realtime is a scope too: ``Scope.last_minutes(events_dir, site_id, tz, 30)`` keeps
the events of the last 30 minutes (visits are made of those alone); every function
here takes it, and its timeseries defaults to one bucket per minute.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pagepulse.query.filters import BREAKDOWN_DIMENSIONS
from pagepulse.query.periods import Interval, Period
from pagepulse.query.runner import DEFAULT_TIMEOUT_S, Result, Scope, run

CURRENT_VISITORS_WINDOW = dt.timedelta(minutes=5)
DEFAULT_LIMIT = 9


@dataclass(frozen=True, slots=True)
class Widget:
    name: str
    query: str
    title: str
    params: dict[str, Any] = field(default_factory=dict)
    default_limit: int = DEFAULT_LIMIT


def _breakdown(name: str, dimension: str, title: str) -> Widget:
    assert dimension in BREAKDOWN_DIMENSIONS, dimension
    return Widget(name, "breakdown", title, {"dimension": dimension})


WIDGETS: dict[str, Widget] = {
    widget.name: widget
    for widget in (
        Widget("top_pages", "top_pages", "Top pages"),
        Widget("entry_pages", "entry_pages", "Entry pages"),
        Widget("exit_pages", "exit_pages", "Exit pages"),
        _breakdown("sources", "visit:source", "Sources"),
        _breakdown("referrers", "visit:referrer", "Referrers"),
        _breakdown("utm_sources", "visit:utm_source", "UTM sources"),
        _breakdown("utm_mediums", "visit:utm_medium", "UTM mediums"),
        _breakdown("utm_campaigns", "visit:utm_campaign", "UTM campaigns"),
        _breakdown("utm_contents", "visit:utm_content", "UTM contents"),
        _breakdown("utm_terms", "visit:utm_term", "UTM terms"),
        _breakdown("countries", "visit:country", "Countries"),
        _breakdown("browsers", "visit:browser", "Browsers"),
        _breakdown("browser_versions", "visit:browser_version", "Browser versions"),
        _breakdown("operating_systems", "visit:os", "Operating systems"),
        _breakdown("os_versions", "visit:os_version", "OS versions"),
        _breakdown("devices", "visit:device", "Devices"),
        Widget("custom_events", "custom_events", "Custom events"),
    )
}


def widget(
    scope: Scope,
    name: str,
    *,
    limit: int | None = None,
    offset: int = 0,
    timeout: float | None = DEFAULT_TIMEOUT_S,
) -> Result:
    """One page of a widget's rows (``Result.rows``, ``Result.has_more``)."""
    spec = WIDGETS[name]
    return run(
        spec.query,
        scope,
        timeout=timeout,
        limit=limit or spec.default_limit,
        offset=offset,
        **spec.params,
    )


def top_stats(scope: Scope, *, timeout: float | None = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """visitors, visits, pageviews, views_per_visit, bounce_rate, visit_duration, events."""
    return run("top_stats", scope, timeout=timeout).rows[0]


def timeseries(
    scope: Scope, interval: Interval | None = None, *, timeout: float | None = DEFAULT_TIMEOUT_S
) -> list[dict[str, Any]]:
    """One row per local bucket: ``bucket`` (naive local datetime) and every metric."""
    interval = interval or default_interval(scope)
    return run("timeseries", scope, timeout=timeout, interval=interval).rows


def default_interval(scope: Scope) -> Interval:
    """Minutes for a realtime scope, else the period's own (hour, day or month)."""
    return "minute" if scope.since is not None else scope.period.default_interval()


def current_visitors(
    events_dir: Path,
    site_id: int,
    timezone: str,
    *,
    now: dt.datetime | None = None,
    timeout: float | None = DEFAULT_TIMEOUT_S,
) -> int:
    """Visitors with an event in the last five minutes (no filters, like Plausible)."""
    now = now or dt.datetime.now(dt.UTC)
    since = now - CURRENT_VISITORS_WINDOW
    # Local yesterday..today covers the UTC days of both `since` and `now`.
    scope = Scope(events_dir, site_id, Period.last_days(2, timezone, now))
    result = run("current_visitors", scope, timeout=timeout, since=since, until=now)
    return result.rows[0]["visitors"]


def dashboard(
    scope: Scope,
    *,
    compare: bool = True,
    interval: Interval | None = None,
    limits: dict[str, int] | None = None,
    now: dt.datetime | None = None,
    timeout: float | None = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    """Every widget for one request, on one connection so visits are built once.

    Returns ``{"top_stats": {...}, "previous_top_stats": {...} | None,
    "timeseries": [...], "interval": str, "current_visitors": int,
    "widgets": {name: {"rows": [...], "has_more": bool}}}``. The previous period's
    stats (for % change) need a second scope, built after the current one's widgets.
    """
    limits = limits or {}
    answer: dict[str, Any] = {
        "top_stats": top_stats(scope, timeout=timeout),
        "interval": interval or default_interval(scope),
    }
    answer["timeseries"] = timeseries(scope, answer["interval"], timeout=timeout)
    answer["widgets"] = {}
    for name in WIDGETS:
        result = widget(scope, name, limit=limits.get(name), timeout=timeout)
        answer["widgets"][name] = {"rows": result.rows, "has_more": result.has_more}
    answer["current_visitors"] = current_visitors(
        scope.events_dir, scope.site_id, scope.period.timezone, now=now, timeout=timeout
    )
    answer["previous_top_stats"] = top_stats(scope.previous(), timeout=timeout) if compare else None
    return answer
