"""From query answers to what the dashboard templates show.

Everything here is plain data in, plain data out (no request, no I/O): the numbers
come from :mod:`pagepulse.query` via ``views``, the URLs from :class:`Target`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pagepulse.control.shares import ShareLink
from pagepulse.control.sites import Site
from pagepulse.query import Filter
from pagepulse.web.dashboard import formatting
from pagepulse.web.dashboard.chart import Chart, build_chart
from pagepulse.web.dashboard.registry import CARDS, Column, WidgetView, card_tabs, first_tab
from pagepulse.web.dashboard.state import (
    DIMENSION_LABELS,
    METRICS,
    OP_LABELS,
    DashboardState,
)

# The top stats, in order: metric -> label.
STATS: dict[str, str] = {
    "visitors": "Unique visitors",
    "visits": "Total visits",
    "pageviews": "Total pageviews",
    "views_per_visit": "Views per visit",
    "bounce_rate": "Bounce rate",
    "visit_duration": "Visit duration",
}


@dataclass(frozen=True, slots=True)
class Target:
    """Whose dashboard a request shows: the owner's (``/sites/3``) or a share link's
    (``/share/<slug>``). Every URL the dashboard prints comes from here, so a share
    page can only ever link to its own slug."""

    site: Site
    base: str
    share: ShareLink | None = None

    @classmethod
    def owner(cls, site: Site) -> Target:
        return cls(site, f"/sites/{site.id}")

    @classmethod
    def shared(cls, site: Site, share: ShareLink) -> Target:
        return cls(site, f"/share/{share.slug}", share)

    @property
    def is_shared(self) -> bool:
        return self.share is not None

    def page(self, state: DashboardState) -> str:
        return f"{self.base}?{state.query()}"

    def widget(self, name: str, state: DashboardState, **extra: Any) -> str:
        pairs = [("name", name), *((k, str(v)) for k, v in extra.items() if v is not None)]
        return f"{self.base}/widget?{urlencode(pairs)}&{state.query()}"

    def export(self, state: DashboardState) -> str:
        return f"{self.base}/export?{state.query(metric=False)}"


@dataclass(frozen=True, slots=True)
class Stat:
    metric: str
    label: str
    value: str
    raw: Any
    change: formatting.Change | None
    chartable: bool


# Rates and averages of a previous period without visits compare to nothing.
COUNTS = {"visitors", "visits", "pageviews"}


def totals(top: dict[str, Any], previous: dict[str, Any] | None) -> list[Stat]:
    stats = []
    for metric, label in STATS.items():
        change = None
        if previous and (previous["visits"] or metric in COUNTS):
            change = formatting.change(metric, top[metric], previous[metric])
        stats.append(
            Stat(
                metric=metric,
                label=label,
                value=formatting.metric_value(top[metric], metric),
                raw=top[metric],
                change=change,
                chartable=metric in METRICS,
            )
        )
    return stats


def chart(rows: list[dict[str, Any]], state: DashboardState, interval: str) -> Chart:
    return build_chart(rows, state.metric, METRICS[state.metric], interval)


@dataclass(frozen=True, slots=True)
class Chip:
    text: str
    remove_url: str


def chips(target: Target, state: DashboardState) -> list[Chip]:
    found = []
    for index, item in enumerate(state.filters):
        value = filter_value_label(item)
        text = f"{DIMENSION_LABELS[item.dimension]} {OP_LABELS[item.op]} {value}"
        found.append(Chip(text, target.page(state.without_filter(index))))
    return found


def filter_value_label(item: Filter) -> str:
    value = item.values[0]
    if item.dimension == "visit:country" and item.op != "contains":
        return formatting.country_name(value) if value else "(none)"
    return value or "(none)"


@dataclass(frozen=True, slots=True)
class Cell:
    column: Column
    value: str
    raw: Any


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    label: str
    flag: str
    filter_url: str | None
    share: float  # % of the scope's visitors, for the bar
    cells: list[Cell]


def row_label(view: WidgetView, row: dict[str, Any]) -> str:
    name = row["name"]
    if view.labels == "country":
        return formatting.country_name(name)
    if view.labels == "version":
        parent = row.get("parent") or ""
        version = name or ""
        text = f"{parent} {version}".strip()
        return text or view.empty_name
    return name if name else view.empty_name


def rows(
    target: Target,
    state: DashboardState,
    view: WidgetView,
    answer: list[dict[str, Any]],
    total_visitors: int,
    columns: tuple[Column, ...],
) -> list[Row]:
    shown = []
    for row in answer:
        filter_url = None
        if view.dimension:
            filtered = state.with_filter(Filter.of(view.dimension, "is", row["name"] or ""))
            if view.parent_dimension and row.get("parent") is not None:
                filtered = filtered.with_filter(
                    Filter.of(view.parent_dimension, "is", row["parent"])
                )
            filter_url = target.page(filtered)
        share = 100 * row["visitors"] / total_visitors if total_visitors else 0.0
        shown.append(
            Row(
                name=row["name"],
                label=row_label(view, row),
                flag=formatting.flag(row["name"]) if view.labels == "country" else "",
                filter_url=filter_url,
                share=round(min(share, 100.0), 2),
                cells=[
                    Cell(c, formatting.metric_value(row.get(c.key), c.key), row.get(c.key))
                    for c in columns
                ],
            )
        )
    return shown


@dataclass(frozen=True, slots=True)
class Tab:
    name: str
    label: str
    card_url: str
    details_url: str
    current: bool


def tabs(target: Target, state: DashboardState, view: WidgetView) -> list[Tab]:
    return [
        Tab(
            tab.name,
            tab.tab,
            target.widget(tab.name, state, view="card"),
            target.widget(tab.name, state, view="details"),
            tab.name == view.name,
        )
        for tab in card_tabs(view.card)
    ]


@dataclass(frozen=True, slots=True)
class CardSlot:
    """A breakdown card before it loads: where to fetch it, and a link without JS."""

    card: str
    title: str
    url: str
    details_url: str


def card_slots(target: Target, state: DashboardState) -> list[CardSlot]:
    return [
        CardSlot(
            card,
            title,
            target.widget(first_tab(card).name, state, view="card"),
            target.widget(first_tab(card).name, state, view="details"),
        )
        for card, title in CARDS.items()
    ]


def first_local_day(first_utc_day: dt.date, timezone: str) -> dt.date:
    """The local date on which the lake's first UTC day begins (for "all time")."""
    start = dt.datetime.combine(first_utc_day, dt.time(0), tzinfo=dt.UTC)
    return start.astimezone(ZoneInfo(timezone)).date()
