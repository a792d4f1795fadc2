"""The dashboard's widget registry: which widgets the page shows, and how.

The query layer's :data:`pagepulse.query.WIDGETS` says how a widget is *answered*;
this registry says how it is *shown*: its kind (one template per kind, in
``templates/dashboard/widgets/``), the card and tab it lives in, the dimension a
click on a row filters by, and the columns of its details view. One generic route
(``GET …/widget?name=<widget>``) serves every entry as an HTML fragment, a details
page, JSON or CSV, so adding a breakdown is a query-layer entry plus a line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pagepulse.query import WIDGETS

Kind = Literal["totals", "timeseries", "current_visitors", "bar_list"]
# How a row's name reads: a page path, a country code, a version under its parent…
Labels = Literal["plain", "page", "country", "version", "event"]

TEMPLATES: dict[Kind, str] = {
    "totals": "dashboard/widgets/_totals.html",
    "timeseries": "dashboard/widgets/_timeseries.html",
    "current_visitors": "dashboard/widgets/_current_visitors.html",
    "bar_list": "dashboard/widgets/_bar_list.html",
}

# Rows per page of a details view (cards show the query layer's default_limit).
DETAILS_LIMIT = 50
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str


VISITORS = Column("visitors", "Visitors")
VISITS = Column("visits", "Visits")
PAGEVIEWS = Column("pageviews", "Pageviews")
BOUNCE_RATE = Column("bounce_rate", "Bounce rate")
VISIT_DURATION = Column("visit_duration", "Visit duration")
VISIT_COLUMNS = (VISITORS, VISITS, BOUNCE_RATE, VISIT_DURATION)


@dataclass(frozen=True, slots=True)
class WidgetView:
    name: str
    kind: Kind
    title: str
    card: str = ""  # bar lists: the card they are a tab of
    tab: str = ""  # the tab's label
    dimension: str | None = None  # a click on a row filters by (dimension, is, name)
    parent_dimension: str | None = None  # versions: also filter by their browser/OS
    label: str = "Name"  # heading of the name column
    labels: Labels = "plain"
    empty_name: str = "(none)"  # how an empty value reads
    columns: tuple[Column, ...] = (VISITORS,)  # details view and CSV order
    card_columns: tuple[Column, ...] = (VISITORS,)

    @property
    def template(self) -> str:
        return TEMPLATES[self.kind]

    @property
    def default_limit(self) -> int:
        return WIDGETS[self.name].default_limit if self.name in WIDGETS else 0


def _bar(
    name: str,
    card: str,
    tab: str,
    label: str,
    *,
    labels: Labels = "plain",
    empty_name: str = "(none)",
    columns: tuple[Column, ...] = VISIT_COLUMNS,
    card_columns: tuple[Column, ...] = (VISITORS,),
    dimension: str | None = None,
    parent_dimension: str | None = None,
) -> WidgetView:
    spec = WIDGETS[name]
    return WidgetView(
        name=name,
        kind="bar_list",
        title=spec.title,
        card=card,
        tab=tab,
        dimension=dimension or spec.params.get("dimension"),
        parent_dimension=parent_dimension,
        label=label,
        labels=labels,
        empty_name=empty_name,
        columns=columns,
        card_columns=card_columns,
    )


VIEWS: dict[str, WidgetView] = {
    view.name: view
    for view in (
        WidgetView("top_stats", "totals", "Top stats"),
        WidgetView("timeseries", "timeseries", "Visitors over time"),
        WidgetView("current_visitors", "current_visitors", "Current visitors"),
        _bar(
            "top_pages",
            "pages",
            "Top pages",
            "Page",
            labels="page",
            dimension="event:page",
            columns=(VISITORS, PAGEVIEWS, BOUNCE_RATE),
        ),
        _bar(
            "entry_pages",
            "pages",
            "Entry pages",
            "Entry page",
            labels="page",
            dimension="visit:entry_page",
            columns=(VISITORS, Column("visits", "Entrances"), BOUNCE_RATE, VISIT_DURATION),
        ),
        _bar(
            "exit_pages",
            "pages",
            "Exit pages",
            "Exit page",
            labels="page",
            dimension="visit:exit_page",
            columns=(VISITORS, Column("visits", "Exits"), Column("exit_rate", "Exit rate")),
        ),
        _bar("sources", "sources", "Sources", "Source", empty_name="Direct / None"),
        _bar("referrers", "sources", "Referrers", "Referrer"),
        _bar("utm_sources", "campaigns", "Source", "UTM source"),
        _bar("utm_mediums", "campaigns", "Medium", "UTM medium"),
        _bar("utm_campaigns", "campaigns", "Campaign", "UTM campaign"),
        _bar("utm_contents", "campaigns", "Content", "UTM content"),
        _bar("utm_terms", "campaigns", "Term", "UTM term"),
        _bar("countries", "locations", "Countries", "Country", labels="country"),
        _bar("browsers", "devices", "Browser", "Browser", empty_name="Unknown"),
        _bar(
            "browser_versions",
            "devices",
            "Version",
            "Browser version",
            labels="version",
            empty_name="Unknown",
            parent_dimension="visit:browser",
        ),
        _bar("operating_systems", "devices", "OS", "Operating system", empty_name="Unknown"),
        _bar(
            "os_versions",
            "devices",
            "OS version",
            "OS version",
            labels="version",
            empty_name="Unknown",
            parent_dimension="visit:os",
        ),
        _bar("devices", "devices", "Device", "Device", empty_name="Unknown"),
        _bar(
            "custom_events",
            "events",
            "Custom events",
            "Event",
            labels="event",
            dimension="event:name",
            columns=(VISITORS, Column("events", "Events"), Column("conversion_rate", "CR")),
            card_columns=(VISITORS, Column("events", "Events")),
        ),
    )
}

# Cards of breakdowns, in page order: card name -> its title (tabs come from VIEWS).
CARDS: dict[str, str] = {
    "pages": "Pages",
    "sources": "Sources",
    "campaigns": "Campaigns (UTM)",
    "locations": "Countries",
    "devices": "Devices",
    "events": "Custom events",
}

BAR_LISTS: tuple[str, ...] = tuple(name for name, view in VIEWS.items() if view.kind == "bar_list")

assert set(BAR_LISTS) == set(WIDGETS), "every query-layer widget needs a view"
assert all(VIEWS[name].card in CARDS for name in BAR_LISTS)


def card_tabs(card: str) -> list[WidgetView]:
    return [VIEWS[name] for name in BAR_LISTS if VIEWS[name].card == card]


def first_tab(card: str) -> WidgetView:
    return card_tabs(card)[0]
