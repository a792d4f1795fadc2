"""Query layer: every dashboard and API question, answered by a ``queries/*.sql`` file.

Read ``runner`` first (the one door to DuckDB), then ``widgets`` (the widget
registry), ``filters`` (the dimension whitelist) and ``periods`` (local dates).
"""

from pagepulse.query.filters import DIMENSIONS, Filter, FilterError
from pagepulse.query.periods import Period
from pagepulse.query.runner import QueryError, QueryTimeout, Result, Scope, run, run_async
from pagepulse.query.widgets import (
    WIDGETS,
    Widget,
    current_visitors,
    dashboard,
    timeseries,
    top_stats,
    widget,
)

__all__ = [
    "DIMENSIONS",
    "WIDGETS",
    "Filter",
    "FilterError",
    "Period",
    "QueryError",
    "QueryTimeout",
    "Result",
    "Scope",
    "Widget",
    "current_visitors",
    "dashboard",
    "run",
    "run_async",
    "timeseries",
    "top_stats",
    "widget",
]
