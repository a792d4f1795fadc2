"""What a dashboard URL means: a date range, stacked filters and the chart metric.

The query string is the whole state, so a view can be bookmarked and shared::

    ?period=7d&f=visit:country,is,DE&f=event:page,contains,/blog&metric=visits
    ?period=custom&from=2026-01-01&to=2026-01-31

A filter is ``dimension,op,value``; the value is everything after the second comma
(commas included) and may be empty (the "(none)" row of a breakdown). The "add
filter" form sends ``fd``, ``fo`` and ``fv`` instead; :func:`parse_state` folds them
into the filters and says the URL is not canonical, so the route can redirect to
(or tell htmx to push) :meth:`DashboardState.query`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from pagepulse.query import DIMENSIONS, Filter, FilterError, Period
from pagepulse.query.filters import OPS
from pagepulse.query.ranges import DASHBOARD_RANGES, RangeError, resolve_range

DEFAULT_RANGE = "30d"
MAX_FILTERS = 20
MAX_VALUE_LENGTH = 2000

# Chart metrics: name -> label (also the top stats a chart can switch to).
METRICS: dict[str, str] = {
    "visitors": "Unique visitors",
    "visits": "Visits",
    "pageviews": "Pageviews",
    "bounce_rate": "Bounce rate",
    "visit_duration": "Visit duration",
}
DEFAULT_METRIC = "visitors"

OP_LABELS: dict[str, str] = {"is": "is", "is_not": "is not", "contains": "contains"}

# Human names of every filterable dimension, in the add-filter form's order.
DIMENSION_LABELS: dict[str, str] = {
    "event:page": "Page",
    "visit:entry_page": "Entry page",
    "visit:exit_page": "Exit page",
    "event:name": "Event name",
    "event:hostname": "Hostname",
    "visit:source": "Source",
    "visit:referrer": "Referrer",
    "visit:utm_source": "UTM source",
    "visit:utm_medium": "UTM medium",
    "visit:utm_campaign": "UTM campaign",
    "visit:utm_content": "UTM content",
    "visit:utm_term": "UTM term",
    "visit:country": "Country",
    "visit:browser": "Browser",
    "visit:browser_version": "Browser version",
    "visit:os": "Operating system",
    "visit:os_version": "OS version",
    "visit:device": "Device",
}
assert set(DIMENSION_LABELS) == set(DIMENSIONS), "label every dimension of the query layer"


class StateError(ValueError):
    """The URL asks for something the dashboard cannot show; ``messages`` say why."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True, slots=True)
class DashboardState:
    period: str = DEFAULT_RANGE
    start: dt.date | None = None  # custom ranges only
    end: dt.date | None = None
    filters: tuple[Filter, ...] = ()
    metric: str = DEFAULT_METRIC
    # False when the request spelled the state some other way (e.g. the add-filter
    # form's fields): the route then sends the browser to the canonical query.
    canonical: bool = field(default=True, compare=False)

    @property
    def realtime(self) -> bool:
        return self.period == "realtime"

    @property
    def range_label(self) -> str:
        if self.period == "custom" and self.start and self.end:
            return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"
        return DASHBOARD_RANGES[self.period]

    def pairs(self, *, metric: bool = True) -> list[tuple[str, str]]:
        """The canonical query parameters, in a stable order."""
        pairs = [("period", self.period)]
        if self.period == "custom" and self.start and self.end:
            pairs += [("from", self.start.isoformat()), ("to", self.end.isoformat())]
        pairs += [("f", encode_filter(item)) for item in self.filters]
        if metric and self.metric != DEFAULT_METRIC:
            pairs.append(("metric", self.metric))
        return pairs

    def query(self, extra: Iterable[tuple[str, str]] = (), *, metric: bool = True) -> str:
        """``period=7d&f=…`` (readable: ``:``, ``,`` and ``/`` stay unescaped)."""
        return urlencode([*self.pairs(metric=metric), *extra], safe=":,/")

    def with_period(self, period: str) -> DashboardState:
        return replace(self, period=period, start=None, end=None, canonical=True)

    def with_metric(self, metric: str) -> DashboardState:
        return replace(self, metric=metric, canonical=True)

    def with_filter(self, item: Filter) -> DashboardState:
        """Add a filter; one on the same dimension and operator is replaced, as a click
        on another row of the same breakdown means "this one instead"."""
        kept = tuple(f for f in self.filters if (f.dimension, f.op) != (item.dimension, item.op))
        return replace(self, filters=(*kept, item), canonical=True)

    def without_filter(self, index: int) -> DashboardState:
        filters = self.filters[:index] + self.filters[index + 1 :]
        return replace(self, filters=filters, canonical=True)

    def without_filters(self) -> DashboardState:
        return replace(self, filters=(), canonical=True)

    def resolve(
        self, timezone: str, *, now: dt.datetime | None = None, first_day: dt.date | None = None
    ) -> Period:
        try:
            return resolve_range(
                self.period, timezone, now=now, start=self.start, end=self.end, first_day=first_day
            )
        except RangeError as exc:
            raise StateError([f"The date range cannot be shown: {exc}."]) from exc


def encode_filter(item: Filter) -> str:
    return f"{item.dimension},{item.op},{item.values[0]}"


def parse_filter(raw: str) -> Filter:
    parts = raw.split(",", 2)
    if len(parts) != 3:
        raise FilterError(f"“{raw}” is not a filter: write dimension,operator,value")
    dimension, op, value = parts
    if dimension not in DIMENSIONS:
        raise FilterError(f"“{dimension}” is not something the dashboard can filter by")
    if op not in OPS:
        raise FilterError(f"“{op}” is not a filter operator (use is, is_not or contains)")
    if len(value) > MAX_VALUE_LENGTH:
        raise FilterError(f"the value of the {dimension} filter is too long")
    if op == "contains" and not value:
        raise FilterError(f"the “contains” filter on {dimension} needs a value")
    return Filter.of(dimension, op, value)


def _parse_date(raw: str | None, name: str, errors: list[str]) -> dt.date | None:
    if not raw:
        errors.append(f"A custom range needs a “{name}” date.")
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors.append(f"“{raw}” is not a date (use YYYY-MM-DD).")
        return None


def parse_state(params: Iterable[tuple[str, str]]) -> DashboardState:
    """The state of a dashboard URL's query parameters; :class:`StateError` lists
    every problem found. Unknown parameters are ignored (htmx adds its own)."""
    values: dict[str, list[str]] = {}
    for key, value in params:
        values.setdefault(key, []).append(value)

    def one(key: str) -> str | None:
        found = values.get(key)
        return found[-1] if found else None

    errors: list[str] = []
    canonical = True
    period = one("period") or DEFAULT_RANGE
    if period not in DASHBOARD_RANGES:
        errors.append(f"“{period}” is not a date range.")
        period = DEFAULT_RANGE
    start = end = None
    if period == "custom":
        start = _parse_date(one("from"), "from", errors)
        end = _parse_date(one("to"), "to", errors)
        if start and end and end < start:
            errors.append("The custom range ends before it starts.")
    filters: list[Filter] = []
    for raw in values.get("f", []):
        try:
            filters.append(parse_filter(raw))
        except FilterError as exc:
            errors.append(f"Filter not understood: {exc}.")
    if "fd" in values:
        canonical = False
        dimension, op, value = one("fd") or "", one("fo") or "is", (one("fv") or "").strip()
        if value or op != "contains":
            try:
                filters.append(parse_filter(f"{dimension},{op},{value}"))
            except FilterError as exc:
                errors.append(f"Filter not understood: {exc}.")
    if len(filters) > MAX_FILTERS:
        errors.append(f"At most {MAX_FILTERS} filters can be combined.")
    metric = one("metric") or DEFAULT_METRIC
    if metric not in METRICS:
        errors.append(f"“{metric}” is not a chart metric.")
        metric = DEFAULT_METRIC
    if errors:
        raise StateError(errors)
    return DashboardState(period, start, end, tuple(filters), metric, canonical)


def describe_filter(item: Filter) -> str:
    """ "Country is DE", for chips and headings."""
    value = item.values[0]
    return f"{DIMENSION_LABELS[item.dimension]} {OP_LABELS[item.op]} {value or '(none)'}"
