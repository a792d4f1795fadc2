"""A report's numbers: the dashboard's own queries over the reported period.

Top stats come from ``query.top_stats`` for the period and for the period before it
(the week before, or the calendar month before; the dashboard's "Last month" compares
with the 30/31 days before instead), and are labelled and formatted exactly as the
dashboard's top stats (``dashboard.context.totals``). Top pages, sources and countries
are the dashboard's widgets of the same names, first rows only.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from pagepulse.config import Settings
from pagepulse.control.sites import Site
from pagepulse.query import Period, Scope, top_stats, widget
from pagepulse.reports.schedule import Kind, period_label, previous_period
from pagepulse.web.dashboard import formatting
from pagepulse.web.dashboard.context import Stat, totals

# The headline numbers a report shows, in order (the dashboard also has views per visit).
REPORT_STATS = ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration")
ROWS_PER_LIST = 5
MAX_NAME_LENGTH = 90


@dataclass(frozen=True, slots=True)
class ListRow:
    name: str  # as shown: a path, a source or a country name; never trusted markup
    visitors: int
    visitors_text: str


@dataclass(frozen=True, slots=True)
class RankedList:
    title: str
    column: str
    rows: list[ListRow]


@dataclass(frozen=True, slots=True)
class ReportContent:
    site: Site
    kind: Kind
    period: Period
    previous: Period
    stats: list[Stat]
    lists: list[RankedList]
    dashboard_url: str

    @property
    def label(self) -> str:
        return period_label(self.kind, self.period)

    @property
    def previous_label(self) -> str:
        return period_label(self.kind, self.previous)

    def stat(self, metric: str) -> Stat:
        return next(stat for stat in self.stats if stat.metric == metric)


def build_report(settings: Settings, site: Site, kind: Kind, period: Period) -> ReportContent:
    scope = Scope(settings.events_dir, site.id, period)
    previous = previous_period(kind, period)
    current_stats = top_stats(scope)
    previous_stats = top_stats(scope.with_period(previous))
    stats = [s for s in totals(current_stats, previous_stats) if s.metric in REPORT_STATS]
    lists = [
        RankedList("Top pages", "Page", _rows(scope, "top_pages", _plain)),
        RankedList("Top sources", "Source", _rows(scope, "sources", _source)),
        RankedList("Top countries", "Country", _rows(scope, "countries", _country)),
    ]
    query = urlencode(
        {"period": "custom", "from": period.start.isoformat(), "to": period.end.isoformat()}
    )
    url = f"{settings.base_url.rstrip('/')}/sites/{site.id}?{query}"
    return ReportContent(site, kind, period, previous, stats, lists, url)


def _rows(scope: Scope, name: str, label: Any) -> list[ListRow]:
    result = widget(scope, name, limit=ROWS_PER_LIST)
    return [
        ListRow(
            clean_name(label(row["name"])), row["visitors"], formatting.compact(row["visitors"])
        )
        for row in result.rows
    ]


def clean_name(value: str) -> str:
    """A visitor-supplied name made safe to print in any part of an email.

    Control and format characters go (a newline would forge lines of the text part,
    a right-to-left override would make a path read as another); long names are cut.
    HTML escaping is the HTML template's job (autoescape).
    """
    kept = "".join(ch for ch in value if unicodedata.category(ch) not in ("Cc", "Cf"))
    return kept if len(kept) <= MAX_NAME_LENGTH else kept[: MAX_NAME_LENGTH - 1] + "…"


def _plain(value: str) -> str:
    return value


def _source(value: str) -> str:
    return value or "Direct / None"  # as the dashboard's Sources card says


def _country(code: str) -> str:
    name = formatting.country_name(code)
    flag = formatting.flag(code)
    return f"{flag} {name}" if flag else name
