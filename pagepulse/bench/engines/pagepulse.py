"""PagePulse itself: the public ``pagepulse.query`` API over the compacted lake.

Each step is the call ``pagepulse.query.dashboard`` makes, through the same public
functions; :meth:`PagePulseEngine.dashboard` is that one call, which the comparison
uses as PagePulse's answer. The query layer's caches are its own: a cold round is the
first of a fresh process (``python -m pagepulse.bench.engines pagepulse …``), and
:meth:`drop_caches` does nothing. Hot rounds reuse the scope tables but run every query:
the answers a server remembers for an unchanged scope are switched off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pagepulse.bench.engines import Request
from pagepulse.query import (
    WIDGETS,
    Scope,
    current_visitors,
    dashboard,
    runner,
    timeseries,
    top_stats,
    widget,
)


class PagePulseEngine:
    name = "pagepulse"

    def prepare(self) -> dict[str, float]:
        runner.REMEMBER_ANSWERS = False  # hot rounds run their queries, as ClickHouse's do
        return {}

    def drop_caches(self) -> None:
        pass

    def close(self) -> None:
        pass

    def steps(self, request: Request) -> dict[str, Callable[[], Any]]:
        scope = Scope(request.lake, request.site_id, request.period)
        previous = scope.with_period(request.period.previous())
        steps: dict[str, Callable[[], Any]] = {
            "top_stats": lambda: top_stats(scope),
            "timeseries": lambda: timeseries(scope),
        }
        for name in WIDGETS:
            steps[name] = _widget_step(scope, name)
        steps["current_visitors"] = lambda: current_visitors(
            request.lake, request.site_id, request.period.timezone, now=request.now
        )
        steps["previous_top_stats"] = lambda: top_stats(previous)
        return steps

    def dashboard(self, request: Request) -> dict[str, Any]:
        """The whole dashboard in one ``pagepulse.query.dashboard`` call, as steps' answers."""
        scope = Scope(request.lake, request.site_id, request.period)
        answer = dashboard(scope, now=request.now)
        return {
            "top_stats": answer["top_stats"],
            "timeseries": answer["timeseries"],
            **answer["widgets"],
            "current_visitors": answer["current_visitors"],
            "previous_top_stats": answer["previous_top_stats"],
        }


def _widget_step(scope: Scope, name: str) -> Callable[[], dict[str, Any]]:
    def step() -> dict[str, Any]:
        result = widget(scope, name)
        return {"rows": result.rows, "has_more": result.has_more}

    return step
