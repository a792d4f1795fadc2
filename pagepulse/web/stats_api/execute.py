"""Answer a :class:`QuerySpec` for a site with the query layer, in Plausible's shape.

Every number comes from :mod:`pagepulse.query` (``top_stats``, ``timeseries`` and the
dashboard's widgets), so the API shows what the dashboard shows. This module only
picks the call, computes ``percentage`` from the same totals, and sorts and pages
rows when the order asked for is not the widget's own (most visitors first).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pagepulse.control.sites import Site
from pagepulse.lake.layout import site_days
from pagepulse.query import Filter, Period, QueryTimeout, Scope, timeseries, top_stats, widget
from pagepulse.query.ranges import RangeError, resolve_range
from pagepulse.web.stats_api.errors import ApiError
from pagepulse.web.stats_api.validate import OrderBy, QuerySpec, default_order

# Sorting by anything but visitors, or counting rows, reads the whole breakdown; past
# this many rows we refuse rather than hold them all in memory.
MAX_SORTED_ROWS = 100_000
NATIVE_ORDER: OrderBy = (("visitors", "desc"),)
_LABEL_FORMATS = {"hour": "%Y-%m-%d %H:00:00", "day": "%Y-%m-%d", "month": "%Y-%m-01"}


@dataclass(slots=True)
class Row:
    dimensions: list[str]
    values: dict[str, Any]
    # The widget's own tie-break (name, then parent), applied after order_by.
    tiebreak: tuple[str, ...] = ()
    # The row's unique visitors, for its percentage even when not requested.
    visitors: int = 0


def answer(
    spec: QuerySpec, site: Site, events_dir: Path, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The response body: ``{"results": [...], "meta": {...}, "query": {...}}``."""
    period = resolve_period(spec, site, events_dir, now=now)
    scope = Scope(events_dir, site.id, period, spec.filters)
    order = spec.order_by or default_order(spec)
    meta: dict[str, Any] = {}
    try:
        if spec.breakdown is not None:
            rows, total_rows = _breakdown(spec, scope, order)
        elif spec.interval is not None:
            rows, labels = _timeseries(spec, scope)
            if spec.include.time_labels:
                meta["time_labels"] = labels
            total_rows = len(rows)
            rows = _page(_sorted(rows, order, spec), spec)
        else:
            stats = top_stats(scope)
            rows, total_rows = [Row([], {m: stats[m] for m in spec.metrics}, ())], 1
    except QueryTimeout:
        raise ApiError(
            "The query took too long: try a shorter date_range or fewer dimensions", 503
        ) from None
    if spec.include.total_rows:
        meta["total_rows"] = total_rows
    return {
        "results": [
            {
                "metrics": [_json_number(row.values[m]) for m in spec.metrics],
                "dimensions": row.dimensions,
            }
            for row in rows
        ],
        "meta": meta,
        "query": _echo(spec, site, period, order),
    }


def resolve_period(
    spec: QuerySpec, site: Site, events_dir: Path, *, now: dt.datetime | None = None
) -> Period:
    """The local-date period of ``date_range`` in the site's timezone."""
    try:
        if isinstance(spec.date_range, tuple):
            start, end = spec.date_range
            return resolve_range("custom", site.timezone, now=now, start=start, end=end)
        first_day = None
        if spec.date_range == "all":
            days = site_days(events_dir, site.id)
            if days:
                # Partitions are UTC days: the first one may begin on the local day before.
                midnight = dt.datetime.combine(days[0], dt.time(0), tzinfo=dt.UTC)
                first_day = midnight.astimezone(ZoneInfo(site.timezone)).date()
        return resolve_range(spec.date_range, site.timezone, now=now, first_day=first_day)
    except RangeError as exc:
        raise ApiError.field("date_range", str(exc)) from None


def _breakdown(spec: QuerySpec, scope: Scope, order: OrderBy) -> tuple[list[Row], int]:
    breakdown = spec.breakdown
    assert breakdown is not None
    wanted = [m for m in spec.metrics if m != "percentage"]

    def convert(raw: dict[str, Any]) -> Row:
        return Row(
            [str(raw[breakdown.columns[d]]) for d in spec.dimensions],
            {m: raw[m] for m in wanted},
            (str(raw["name"]), str(raw.get("parent", ""))),
            raw["visitors"],
        )

    if order == NATIVE_ORDER and not breakdown.with_pageviews and not spec.include.total_rows:
        # The widget already sorts this way: let the query layer page it.
        result = widget(scope, breakdown.widget, limit=spec.limit, offset=spec.offset)
        rows, total = [convert(raw) for raw in result.rows], -1
    else:
        result = widget(scope, breakdown.widget, limit=MAX_SORTED_ROWS)
        if result.has_more:
            raise ApiError.field(
                "order_by",
                f"this breakdown has more than {MAX_SORTED_ROWS} rows: order it by visitors "
                "descending, without include.total_rows, to page through it",
            )
        rows = [convert(raw) for raw in result.rows]
        if breakdown.with_pageviews:
            rows.extend(_pageview_row(scope, wanted))
        total = len(rows)
        rows = _page(_sorted(rows, order, spec), spec)
    if "percentage" in spec.metrics:
        # Plausible's percentage: the row's share of all visitors of the query.
        all_visitors = top_stats(scope)["visitors"]
        for row in rows:
            row.values["percentage"] = _percent_1dp(row.visitors, all_visitors)
    return rows, total


def _pageview_row(scope: Scope, metrics: Sequence[str]) -> list[Row]:
    """event:name's ``pageview`` row, which the custom events widget leaves out.

    Adding ``event:name is pageview`` to the filters gives exactly it: the visitors
    with a matching pageview, and the matching pageviews as its events.
    """
    pageviews = Filter.of("event:name", "is", "pageview")
    stats = top_stats(
        Scope(scope.events_dir, scope.site_id, scope.period, (*scope.filters, pageviews))
    )
    if not stats["pageviews"]:
        return []
    values = {"visitors": stats["visitors"], "events": stats["pageviews"]}
    return [Row(["pageview"], {m: values[m] for m in metrics}, ("pageview", ""), stats["visitors"])]


def _timeseries(spec: QuerySpec, scope: Scope) -> tuple[list[Row], list[str]]:
    """Buckets with visits (as Plausible: empty ones only in ``time_labels``)."""
    assert spec.interval is not None
    label_format = _LABEL_FORMATS[spec.interval]
    rows, labels = [], []
    for bucket in timeseries(scope, spec.interval):  # type: ignore[arg-type]
        label = bucket["bucket"].strftime(label_format)
        labels.append(label)
        if bucket["visits"]:
            values = {m: bucket[m] for m in spec.metrics}
            rows.append(Row([label], values, (label,), bucket["visitors"]))
    return rows, labels


def _sorted(rows: list[Row], order: OrderBy, spec: QuerySpec) -> list[Row]:
    """Rows in ``order``, ties broken as the widget breaks them; NULLs last either way."""
    rows = sorted(rows, key=lambda row: row.tiebreak)
    for name, direction in reversed(order):
        if name == "percentage":
            # Computed after paging; a row's share grows with its visitors.
            def value(row: Row) -> Any:
                return row.visitors
        elif name in spec.metrics:

            def value(row: Row, name: str = name) -> Any:
                return row.values[name]
        else:
            index = spec.dimensions.index(name)

            def value(row: Row, index: int = index) -> Any:
                return row.dimensions[index]

        if direction == "desc":
            rows.sort(key=lambda row: (value(row) is not None, value(row)), reverse=True)
        else:
            rows.sort(key=lambda row: (value(row) is None, value(row)))
    return rows


def _page(rows: list[Row], spec: QuerySpec) -> list[Row]:
    return rows[spec.offset : spec.offset + spec.limit]


def _percent_1dp(part: int, whole: int) -> float:
    """As ``percent_1dp`` in queries/_macros.sql: exact integers, half up."""
    if whole == 0:
        return 0.0
    return ((2000 * part + whole) // (2 * whole)) / 10


def _json_number(value: Any) -> Any:
    return float(value) if isinstance(value, decimal.Decimal) else value


def _echo(spec: QuerySpec, site: Site, period: Period, order: OrderBy) -> dict[str, Any]:
    """The query as it was run: resolved dates, defaults filled in."""
    zone = ZoneInfo(period.timezone)
    first = dt.datetime.combine(period.start, dt.time(0), tzinfo=zone)
    last = dt.datetime.combine(period.end, dt.time(23, 59, 59), tzinfo=zone)
    return {
        "site_id": site.domain,
        "metrics": list(spec.metrics),
        "date_range": [first.isoformat(), last.isoformat()],
        "filters": [[f.op, f.dimension, list(f.values)] for f in spec.filters],
        "dimensions": list(spec.dimensions),
        "order_by": [[name, direction] for name, direction in order],
        "include": spec.include.model_dump(),
        "pagination": {"limit": spec.limit, "offset": spec.offset},
    }
