"""Dashboard requests to responses, for owners and share links alike.

``routes/dashboard.py`` and ``routes/share.py`` find the site (and check who may see
it), wrap it in a :class:`~pagepulse.web.dashboard.context.Target` and call one of
:func:`page`, :func:`widget`, :func:`export` here. The widget route is generic: the
registry entry picks the template (HTML fragment or details page), and the same
rows answer ``?format=json`` and ``?format=csv``.

htmx requests that fail validation get their message with status 200, because htmx
does not swap 4xx answers into the page; other clients get a 400.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from pagepulse.config import Settings
from pagepulse.lake.layout import site_days
from pagepulse.query import (
    QueryTimeout,
    Scope,
    current_visitors,
    timeseries,
    top_stats,
)
from pagepulse.query import widget as widget_rows
from pagepulse.query.periods import INTERVALS, Period, local_today
from pagepulse.query.ranges import DASHBOARD_RANGES
from pagepulse.web.dashboard import context as ctx
from pagepulse.web.dashboard import export as csv_export
from pagepulse.web.dashboard import formatting
from pagepulse.web.dashboard.context import Target
from pagepulse.web.dashboard.registry import (
    BAR_LISTS,
    CARDS,
    DETAILS_LIMIT,
    MAX_LIMIT,
    VIEWS,
    WidgetView,
)
from pagepulse.web.dashboard.state import (
    DIMENSION_LABELS,
    METRICS,
    OP_LABELS,
    DashboardState,
    StateError,
    parse_state,
)
from pagepulse.web.templating import redirect, render

PAGE_FRAGMENT = "dashboard/_dashboard.html"
EXPORT_LIMIT = 100_000
REALTIME_WINDOW = dt.timedelta(minutes=30)
TIMEOUT_MESSAGE = "This took too long to count. Try a shorter date range or fewer filters."


def show(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    """``render`` with what every dashboard template may use (``fmt``, ``metrics``)."""
    full = {"fmt": formatting, "metrics": METRICS, "nav": "sites", "site_nav": "overview"}
    return render(request, template, {**full, **context}, status_code)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _wants_fragment(request: Request) -> bool:
    """htmx asked for the dashboard's own element (not a boosted or history load)."""
    return is_htmx(request) and request.headers.get("hx-target") == "dashboard"


# Scopes -------------------------------------------------------------------------------


# Realtime needs ``Scope.last_minutes`` and the "minute" interval of the query layer;
# with an older query layer it falls back to today, charted by hour up to now.
REALTIME_SCOPES = hasattr(Scope, "last_minutes") and "minute" in INTERVALS


def make_scope(
    settings: Settings, target: Target, state: DashboardState, now: dt.datetime
) -> Scope:
    site = target.site
    if state.realtime and REALTIME_SCOPES:
        minutes = int(REALTIME_WINDOW.total_seconds() // 60)
        return Scope.last_minutes(  # type: ignore[attr-defined]
            settings.events_dir, site.id, site.timezone, minutes, filters=state.filters, now=now
        )
    first_day = None
    if state.period == "all":
        days = site_days(settings.events_dir, site.id)
        first_day = ctx.first_local_day(days[0], site.timezone) if days else None
    period = state.resolve(site.timezone, now=now, first_day=first_day)
    return Scope(settings.events_dir, site.id, period, state.filters)


def chart_rows(scope: Scope, state: DashboardState, now: dt.datetime) -> tuple[list[dict], str]:
    """The chart's buckets: by minute for realtime, else the period's own interval."""
    if state.realtime and REALTIME_SCOPES:
        return timeseries(scope, "minute"), "minute"  # type: ignore[arg-type]
    interval = scope.period.default_interval()
    rows = timeseries(scope, interval)
    if state.realtime:
        local_now = now.astimezone(ZoneInfo(scope.period.timezone)).replace(tzinfo=None)
        rows = [row for row in rows if row["bucket"] <= local_now]
    return rows, interval


def previous_stats(scope: Scope, state: DashboardState) -> dict[str, Any] | None:
    """The previous period's top stats for % change; none for realtime and all time."""
    if state.period in ("realtime", "all"):
        return None
    return top_stats(scope.with_period(scope.period.previous()))


# Pages --------------------------------------------------------------------------------


def base_context(target: Target, state: DashboardState) -> dict[str, Any]:
    return {
        "target": target,
        "site": target.site,
        "state": state,
        "ranges": {k: v for k, v in DASHBOARD_RANGES.items() if k != "custom"},
        "dimensions": DIMENSION_LABELS,
        "ops": OP_LABELS,
        "metrics": METRICS,
        "chips": ctx.chips(target, state),
        "state_errors": [],
        "realtime_scopes": REALTIME_SCOPES,
    }


def page(
    request: Request,
    target: Target,
    settings: Settings,
    template: str,
    extra: dict[str, Any] | None = None,
) -> Response:
    """The whole dashboard (or, for htmx, just its ``#dashboard`` element)."""
    extra = extra or {}
    try:
        state = parse_state(request.query_params.multi_items())
    except StateError as exc:
        context = {**base_context(target, DashboardState()), **extra, "state_errors": exc.messages}
        context["has_data"] = True
        return show(request, template, context, 200 if is_htmx(request) else 400)
    if not state.canonical and not is_htmx(request):
        return redirect(target.page(state))
    now = utc_now()
    context = {**base_context(target, state), **extra}
    context["has_data"] = bool(site_days(settings.events_dir, target.site.id))
    if context["has_data"]:
        try:
            context.update(_dashboard_numbers(settings, target, state, now))
        except StateError as exc:
            context["state_errors"] = exc.messages
        except QueryTimeout:
            context["state_errors"] = [TIMEOUT_MESSAGE]
    response = show(request, PAGE_FRAGMENT if _wants_fragment(request) else template, context)
    if not state.canonical:
        response.headers["HX-Push-Url"] = target.page(state)
    response.headers["Vary"] = "HX-Request, HX-Target"
    return response


def _dashboard_numbers(
    settings: Settings, target: Target, state: DashboardState, now: dt.datetime
) -> dict[str, Any]:
    scope = make_scope(settings, target, state, now)
    rows, interval = chart_rows(scope, state, now)
    return {
        "period": scope.period,
        "stats": ctx.totals(top_stats(scope), previous_stats(scope, state)),
        "chart": ctx.chart(rows, state, interval),
        "current_visitors": current_visitors(
            settings.events_dir, target.site.id, target.site.timezone, now=now
        ),
        "cards": ctx.card_slots(target, state),
    }


# The widget route ---------------------------------------------------------------------


class BadRequest(Exception):
    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest([f"“{name}” must be a whole number."]) from None
    if not low <= value <= high:
        raise BadRequest([f"“{name}” must be between {low} and {high}."])
    return value


def widget(request: Request, target: Target, settings: Settings, name: str) -> Response:
    """``GET …/widget?name=<widget>&view=card|rows|details&format=html|json|csv``."""
    view = VIEWS.get(name)
    fmt = request.query_params.get("format", "html")
    try:
        if view is None:
            raise BadRequest([f"There is no widget called “{name}”."])
        if fmt not in ("html", "json", "csv"):
            raise BadRequest(["format must be html, json or csv."])
        state = parse_state(request.query_params.multi_items())
        now = utc_now()
        if view.kind == "current_visitors":
            return _current_visitors(request, target, settings, state, fmt, now)
        scope = make_scope(settings, target, state, now)
        if view.kind == "totals":
            return _totals(request, target, state, scope, fmt)
        if view.kind == "timeseries":
            return _timeseries(request, target, state, scope, fmt, now)
        return _bar_list(request, target, state, scope, view, fmt)
    except (BadRequest, StateError) as exc:
        return _error(request, exc.messages, fmt, 400)
    except QueryTimeout:
        return _error(request, [TIMEOUT_MESSAGE], fmt, 503)


def _error(request: Request, messages: list[str], fmt: str, status: int) -> Response:
    if fmt == "json":
        return JSONResponse({"errors": messages}, status_code=status)
    if fmt == "csv":
        return Response("\n".join(messages) + "\n", status_code=status, media_type="text/plain")
    code = 200 if is_htmx(request) else status
    return show(request, "dashboard/_error.html", {"messages": messages}, code)


def _json(payload: dict[str, Any]) -> JSONResponse:
    return JSONResponse(jsonable_encoder(payload))


def _csv(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


def _meta(target: Target, state: DashboardState, period: Period) -> dict[str, Any]:
    return {
        "site": target.site.domain,
        "period": {
            "range": state.period,
            "start": period.start,
            "end": period.end,
            "timezone": period.timezone,
        },
        "filters": [
            {"dimension": f.dimension, "op": f.op, "value": f.values[0]} for f in state.filters
        ],
    }


def _current_visitors(
    request: Request,
    target: Target,
    settings: Settings,
    state: DashboardState,
    fmt: str,
    now: dt.datetime,
) -> Response:
    count = current_visitors(settings.events_dir, target.site.id, target.site.timezone, now=now)
    if fmt == "json":
        return _json({"site": target.site.domain, "current_visitors": count})
    if fmt == "csv":
        return _csv(
            csv_export.csv_text(["current_visitors"], [{"current_visitors": count}]),
            "current_visitors.csv",
        )
    context = {"target": target, "state": state, "current_visitors": count}
    return show(request, VIEWS["current_visitors"].template, context)


def _totals(
    request: Request, target: Target, state: DashboardState, scope: Scope, fmt: str
) -> Response:
    top = top_stats(scope)
    previous = previous_stats(scope, state)
    if fmt == "json":
        meta = _meta(target, state, scope.period)
        return _json({**meta, "top_stats": top, "previous_top_stats": previous})
    if fmt == "csv":
        return _csv(top_stats_csv(top, previous), "top_stats.csv")
    context = {"target": target, "state": state, "stats": ctx.totals(top, previous)}
    return show(request, VIEWS["top_stats"].template, context)


def top_stats_csv(top: dict[str, Any], previous: dict[str, Any] | None) -> str:
    rows = [
        {"metric": metric, "value": top[metric], "previous": (previous or {}).get(metric)}
        for metric in top
    ]
    return csv_export.csv_text(["metric", "value", "previous"], rows)


def _timeseries(
    request: Request,
    target: Target,
    state: DashboardState,
    scope: Scope,
    fmt: str,
    now: dt.datetime,
) -> Response:
    rows, interval = chart_rows(scope, state, now)
    if fmt == "json":
        return _json({**_meta(target, state, scope.period), "interval": interval, "rows": rows})
    if fmt == "csv":
        return _csv(csv_export.rows_csv(rows, ("bucket",)), "timeseries.csv")
    context = {"target": target, "state": state, "chart": ctx.chart(rows, state, interval)}
    return show(request, VIEWS["timeseries"].template, context)


def _bar_list(
    request: Request,
    target: Target,
    state: DashboardState,
    scope: Scope,
    view: WidgetView,
    fmt: str,
) -> Response:
    mode = request.query_params.get("view", "card" if is_htmx(request) else "details")
    if mode not in ("card", "rows", "details"):
        raise BadRequest(["view must be card, rows or details."])
    if fmt != "html":
        default_limit, max_limit = EXPORT_LIMIT if fmt == "csv" else DETAILS_LIMIT, EXPORT_LIMIT
    elif mode == "card":
        default_limit, max_limit = view.default_limit, MAX_LIMIT
    else:
        default_limit, max_limit = DETAILS_LIMIT, MAX_LIMIT
    limit = _int_param(request, "limit", default_limit, 1, max_limit)
    offset = _int_param(request, "offset", 0, 0, 10_000_000)
    result = widget_rows(scope, view.name, limit=limit, offset=offset)
    if fmt == "json":
        payload = {
            **_meta(target, state, scope.period),
            "widget": view.name,
            "title": view.title,
            "rows": result.rows,
            "has_more": result.has_more,
            "limit": limit,
            "offset": offset,
        }
        return _json(payload)
    if fmt == "csv":
        return _csv(csv_export.rows_csv(result.rows), f"{view.name}.csv")
    total = top_stats(scope)["visitors"]
    columns = view.card_columns if mode == "card" else view.columns
    context = {
        "target": target,
        "site": target.site,
        "state": state,
        "view": view,
        "columns": columns,
        "rows": ctx.rows(target, state, view, result.rows, total, columns),
        "has_more": result.has_more,
        "limit": limit,
        "offset": offset,
        "next_rows_url": target.widget(
            view.name, state, view="rows", offset=offset + limit, limit=limit
        ),
        "next_page_url": target.widget(
            view.name, state, view="details", offset=offset + limit, limit=limit
        ),
        "details_url": target.widget(view.name, state, view="details"),
        "csv_url": target.widget(view.name, state, format="csv"),
        "tabs": ctx.tabs(target, state, view),
        "chips": ctx.chips(target, state),
        "period": scope.period,
        "inline": mode == "card",
        "card_title": CARDS[view.card],
    }
    template = {
        "card": view.template,
        "rows": "dashboard/widgets/_bar_rows.html",
        "details": "dashboard/details.html",
    }[mode]
    return show(request, template, context)


# Export and verify --------------------------------------------------------------------


def export(request: Request, target: Target, settings: Settings) -> Response:
    """A zip of the current view: top stats, the timeseries and one CSV per widget."""
    try:
        state = parse_state(request.query_params.multi_items())
        now = utc_now()
        scope = make_scope(settings, target, state, now)
        rows, _interval = chart_rows(scope, state, now)
        files = {
            "top_stats.csv": top_stats_csv(top_stats(scope), previous_stats(scope, state)),
            "timeseries.csv": csv_export.rows_csv(rows, ("bucket",)),
        }
        for name in BAR_LISTS:
            answer = widget_rows(scope, name, limit=EXPORT_LIMIT)
            files[f"{name}.csv"] = csv_export.rows_csv(answer.rows)
    except StateError as exc:
        return _error(request, exc.messages, "csv", 400)
    except QueryTimeout:
        return _error(request, [TIMEOUT_MESSAGE], "csv", 503)
    period = scope.period
    filename = f"pagepulse-{target.site.domain}-{period.start}-{period.end}.zip"
    return Response(
        csv_export.zip_bytes(files),
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


def recent_events(settings: Settings, target: Target, now: dt.datetime | None = None) -> int:
    """Pageviews and custom events of visits started yesterday or today (site time)."""
    now = now or utc_now()
    today = local_today(target.site.timezone, now)
    period = Period(today - dt.timedelta(days=1), today, target.site.timezone)
    stats = top_stats(Scope(settings.events_dir, target.site.id, period))
    return int(stats["pageviews"]) + int(stats["events"])
