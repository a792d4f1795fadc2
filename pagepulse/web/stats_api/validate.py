"""From a well-formed request to a :class:`QuerySpec` the query layer can answer.

Every check that does not need the site happens here, before the site is looked up:
known names, supported combinations, order_by naming a requested column. Each failure
is an :class:`ApiError` whose message starts with the path of the offending field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pagepulse.query import Filter
from pagepulse.query.ranges import RANGE_NAMES
from pagepulse.web.stats_api import vocabulary as v
from pagepulse.web.stats_api.errors import ApiError
from pagepulse.web.stats_api.request import Include, QueryRequest

# "realtime" is the dashboard's live view, "custom" takes its dates from a list.
API_RANGE_NAMES = frozenset(RANGE_NAMES - {"realtime", "custom"})

OrderBy = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class QuerySpec:
    """A checked query, still without its site (and so without its period)."""

    site_id: str
    metrics: tuple[str, ...]
    date_range: str | tuple[dt.date, dt.date]
    dimensions: tuple[str, ...]
    filters: tuple[Filter, ...]
    order_by: OrderBy
    limit: int
    offset: int
    include: Include
    # Exactly one of these for a grouped query; neither for an aggregate.
    breakdown: v.Breakdown | None = None
    interval: str | None = None


def validate(request: QueryRequest) -> QuerySpec:
    metrics = _metrics(request.metrics)
    dimensions = tuple(request.dimensions)
    breakdown, interval = _grouping(dimensions)
    _metrics_available(metrics, dimensions, breakdown, interval)
    include = request.include
    if include.imports:
        raise ApiError.field("include/imports", "PagePulse has no imported data")
    if include.time_labels and interval is None:
        raise ApiError.field("include/time_labels", "needs a time dimension (time:hour|day|month)")
    return QuerySpec(
        site_id=request.site_id,
        metrics=metrics,
        date_range=_date_range(request.date_range),
        dimensions=dimensions,
        filters=tuple(_filter(i, item) for i, item in enumerate(request.filters)),
        order_by=_order_by(request.order_by or [], metrics, dimensions),
        limit=request.pagination.limit,
        offset=request.pagination.offset,
        include=include,
        breakdown=breakdown,
        interval=interval,
    )


def default_order(spec: QuerySpec) -> OrderBy:
    """Plausible's: time ascending for a timeseries, else the first metric descending."""
    first_metric = (spec.metrics[0], "desc")
    if spec.interval is not None:
        return ((spec.dimensions[0], "asc"), first_metric)
    return (first_metric,)


def _metrics(names: list[str]) -> tuple[str, ...]:
    for i, name in enumerate(names):
        if name in v.PLAUSIBLE_ONLY_METRICS:
            raise ApiError.field(f"metrics/{i}", f'metric "{name}" is not supported by PagePulse')
        if name not in v.METRICS:
            raise ApiError.field(f"metrics/{i}", f'unknown metric "{name}"')
        if name in names[:i]:
            raise ApiError.field(f"metrics/{i}", f'metric "{name}" is listed twice')
    return tuple(names)


def _grouping(dimensions: tuple[str, ...]) -> tuple[v.Breakdown | None, str | None]:
    for i, name in enumerate(dimensions):
        if name in v.PLAUSIBLE_ONLY_DIMENSIONS or name.startswith("event:props:"):
            message = f'dimension "{name}" is not supported by PagePulse'
            raise ApiError.field(f"dimensions/{i}", message)
        if name not in v.DIMENSIONS:
            raise ApiError.field(f"dimensions/{i}", f'unknown dimension "{name}"')
        if name in dimensions[:i]:
            raise ApiError.field(f"dimensions/{i}", f'dimension "{name}" is listed twice')
    if not dimensions:
        return None, None
    times = [name for name in dimensions if name in v.TIME_DIMENSIONS]
    if times:
        if len(dimensions) > 1:
            raise ApiError.field(
                "dimensions",
                "a time dimension cannot be combined with another dimension "
                "(query each breakdown with a filter per period instead)",
            )
        return None, v.TIME_DIMENSIONS[times[0]]
    breakdown = v.BREAKDOWNS.get(frozenset(dimensions))
    if breakdown is not None:
        return breakdown, None
    for name, parent in (
        ("visit:browser_version", "visit:browser"),
        ("visit:os_version", "visit:os"),
    ):
        if dimensions == (name,):
            raise ApiError.field(
                "dimensions",
                f"{name} needs {parent} alongside it (versions are counted per {parent[6:]}): "
                f'["{parent}", "{name}"]',
            )
    raise ApiError.field(
        "dimensions",
        f"this combination of dimensions is not supported: {list(dimensions)}; use one "
        'dimension, or a version with its browser or OS (["visit:browser", '
        '"visit:browser_version"])',
    )


def _metrics_available(
    metrics: tuple[str, ...],
    dimensions: tuple[str, ...],
    breakdown: v.Breakdown | None,
    interval: str | None,
) -> None:
    if breakdown is not None:
        available, where = breakdown.metrics, f"dimension {', '.join(dimensions)}"
    elif interval is not None:
        available, where = frozenset(v.TOTALS_METRICS), f"dimension {dimensions[0]}"
    else:
        available, where = frozenset(v.TOTALS_METRICS), "no dimensions"
    for i, name in enumerate(metrics):
        if name in available:
            continue
        if name == "percentage":
            reason = "needs a breakdown dimension (not a time dimension)"
        elif name == "exit_rate":
            reason = "is only available with dimension visit:exit_page"
        else:
            choices = ", ".join(m for m in v.METRICS if m in available)
            reason = f"is not available with {where} (available: {choices})"
        raise ApiError.field(f"metrics/{i}", f'metric "{name}" {reason}')


def _date_range(value: str | list[str]) -> str | tuple[dt.date, dt.date]:
    if isinstance(value, str):
        if value not in API_RANGE_NAMES:
            names = ", ".join(f'"{name}"' for name in sorted(API_RANGE_NAMES))
            raise ApiError.field("date_range", f'unknown range "{value}" (use one of {names})')
        return value
    if len(value) != 2:
        raise ApiError.field("date_range", "a custom range is [first day, last day]")
    days = []
    for i, text in enumerate(value):
        try:
            days.append(dt.date.fromisoformat(text))
        except ValueError:
            raise ApiError.field(
                f"date_range/{i}",
                f'"{text}" is not a date of the form YYYY-MM-DD (times of day are not supported)',
            ) from None
        if len(text) != 10:
            raise ApiError.field(f"date_range/{i}", f'"{text}" is not of the form YYYY-MM-DD')
    start, end = days
    if end < start:
        raise ApiError.field("date_range", "the last day is before the first day")
    if (end - start).days > 3660:
        raise ApiError.field("date_range", "a custom range may span at most ten years")
    return start, end


def _filter(index: int, item: list[Any]) -> Filter:
    path = f"filters/{index}"
    op = item[0] if item else None
    if isinstance(op, str) and op in v.PLAUSIBLE_ONLY_OPERATORS:
        message = f'filter operator "{op}" is not supported (use is, is_not or contains)'
        raise ApiError.field(f"{path}/0", message)
    if len(item) == 4:
        message = "filter modifiers (e.g. case_sensitive) are not supported"
        raise ApiError.field(f"{path}/3", message)
    if len(item) != 3:
        message = (
            'a filter is [operator, dimension, [values]], e.g. ["is", "visit:country", ["DE"]]'
        )
        raise ApiError.field(path, message)
    op, dimension, values = item
    if not isinstance(op, str) or op not in v.FILTER_OPERATORS:
        message = f"unknown filter operator {_quote(op)} (use is, is_not or contains)"
        raise ApiError.field(f"{path}/0", message)
    if not isinstance(dimension, str) or dimension not in v.FILTERABLE_DIMENSIONS:
        if isinstance(dimension, str) and dimension in v.TIME_DIMENSIONS:
            reason = "cannot be filtered on (use date_range)"
        elif isinstance(dimension, str) and dimension in v.PLAUSIBLE_ONLY_DIMENSIONS:
            reason = "is not supported by PagePulse"
        else:
            reason = "is not a filter dimension"
        raise ApiError.field(f"{path}/1", f"dimension {_quote(dimension)} {reason}")
    if not isinstance(values, list) or not values:
        raise ApiError.field(f"{path}/2", "expected a non-empty list of values")
    for j, value in enumerate(values):
        if not isinstance(value, str):
            raise ApiError.field(f"{path}/2/{j}", f"expected a string, got {_quote(value)}")
    return Filter.of(dimension, op, *values)


def _order_by(
    entries: list[tuple[str, str]], metrics: tuple[str, ...], dimensions: tuple[str, ...]
) -> OrderBy:
    for i, (name, _direction) in enumerate(entries):
        if name not in metrics and name not in dimensions:
            raise ApiError.field(
                f"order_by/{i}/0", f'"{name}" is neither a requested metric nor a dimension'
            )
        if any(earlier == name for earlier, _ in entries[:i]):
            raise ApiError.field(f"order_by/{i}/0", f'"{name}" is listed twice')
    return tuple((name, direction) for name, direction in entries)


def _quote(value: Any) -> str:
    text = f'"{value}"' if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
