"""What the Stats API can answer: its metrics, its dimensions, and for each breakdown
the widget of :data:`pagepulse.query.WIDGETS` that computes it and the metrics it has.

A breakdown is answered by the dashboard's own widget, so the API and the dashboard
cannot disagree. A metric a widget does not compute (pageviews by country, say) is a
clear 400, not an approximation; adding it means a query in ``queries/`` and a widget,
then one line here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pagepulse.query import DIMENSIONS as FILTER_DIMENSIONS
from pagepulse.query import WIDGETS

# The metrics of top_stats and of every timeseries bucket, in Plausible's names.
TOTALS_METRICS: tuple[str, ...] = (
    "visitors",
    "visits",
    "pageviews",
    "views_per_visit",
    "bounce_rate",
    "visit_duration",
    "events",
)
# percentage: the row's share of all visitors (needs a breakdown dimension).
# exit_rate: exits / pageviews of the page (only by visit:exit_page, as in Plausible).
METRICS: tuple[str, ...] = (*TOTALS_METRICS, "percentage", "exit_rate")

# Plausible metrics and dimensions PagePulse does not have: named in the error.
PLAUSIBLE_ONLY_METRICS = frozenset(
    {
        "conversion_rate",
        "group_conversion_rate",
        "scroll_depth",
        "time_on_page",
        "average_revenue",
        "total_revenue",
    }
)
PLAUSIBLE_ONLY_DIMENSIONS = frozenset(
    {
        "time",
        "time:week",
        "event:goal",
        "event:hostname",
        "visit:channel",
        "visit:country_name",
        "visit:region",
        "visit:region_name",
        "visit:city",
        "visit:city_name",
    }
)

TIME_DIMENSIONS: dict[str, str] = {"time:hour": "hour", "time:day": "day", "time:month": "month"}

# Filters take every dimension the query layer filters by (event:hostname too).
FILTERABLE_DIMENSIONS: frozenset[str] = frozenset(FILTER_DIMENSIONS)
FILTER_OPERATORS = ("is", "is_not", "contains")
PLAUSIBLE_ONLY_OPERATORS = frozenset(
    {"contains_not", "matches", "matches_not", "and", "or", "not", "has_done", "has_not_done"}
)


@dataclass(frozen=True, slots=True)
class Breakdown:
    """A breakdown answered by one widget.

    ``columns`` maps each API dimension to the widget row's column holding its value
    (a version breakdown's rows carry the browser or OS in ``parent``).
    ``with_pageviews`` adds a ``pageview`` row to the custom events widget, whose
    rows are custom events only, so that event:name lists every event name.
    """

    widget: str
    columns: dict[str, str]
    metrics: frozenset[str]
    with_pageviews: bool = False
    dimensions: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dimensions", tuple(self.columns))


_VISIT_METRICS = frozenset({"visitors", "visits", "bounce_rate", "visit_duration", "percentage"})


def _breakdowns() -> dict[frozenset[str], Breakdown]:
    found = {
        frozenset({"event:page"}): Breakdown(
            "top_pages",
            {"event:page": "name"},
            frozenset({"visitors", "pageviews", "bounce_rate", "percentage"}),
        ),
        frozenset({"event:name"}): Breakdown(
            "custom_events",
            {"event:name": "name"},
            frozenset({"visitors", "events", "percentage"}),
            with_pageviews=True,
        ),
        frozenset({"visit:entry_page"}): Breakdown(
            "entry_pages", {"visit:entry_page": "name"}, _VISIT_METRICS
        ),
        frozenset({"visit:exit_page"}): Breakdown(
            "exit_pages",
            {"visit:exit_page": "name"},
            frozenset({"visitors", "visits", "exit_rate", "percentage"}),
        ),
    }
    parents = {"visit:browser_version": "visit:browser", "visit:os_version": "visit:os"}
    for spec in WIDGETS.values():
        dimension = spec.params.get("dimension")
        if dimension is None:
            continue
        if dimension in parents:
            # Versions are counted per browser (OS): "Chrome 120" and "Edge 120" are
            # two rows, so a version comes with its browser (OS) as a second dimension.
            columns = {parents[dimension]: "parent", dimension: "name"}
            found[frozenset(columns)] = Breakdown(spec.name, columns, _VISIT_METRICS)
        else:
            found[frozenset({dimension})] = Breakdown(
                spec.name, {dimension: "name"}, _VISIT_METRICS
            )
    return found


BREAKDOWNS: dict[frozenset[str], Breakdown] = _breakdowns()
BREAKDOWN_DIMENSIONS: frozenset[str] = frozenset().union(*BREAKDOWNS)
DIMENSIONS: frozenset[str] = BREAKDOWN_DIMENSIONS | frozenset(TIME_DIMENSIONS)
