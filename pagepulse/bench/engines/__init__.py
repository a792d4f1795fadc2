"""Three engines answering the same dashboard, for ``pagepulse bench compare``.

* ``pagepulse`` (:mod:`.pagepulse`): the real query layer over the compacted lake;
* ``clickhouse`` (:mod:`.clickhouse`): Plausible's design in chDB (an ``events``
  MergeTree and a ``sessions`` table built at load time), visitors by ``uniq`` or, in
  the ``clickhouse-exact`` variant, by ``uniqExact``;
* ``naive`` (:mod:`.naive`): plain DuckDB SQL over the uncompacted lake, sessionising
  with window functions in every query.

An engine is a set of *steps*, one per call ``pagepulse.query.dashboard`` makes (top
stats, timeseries, every widget, current visitors, the previous period's stats); each
step returns what that call returns, so the answers compare row by row
(:mod:`.answers`). :func:`measure` times a cold round (the engine's first, or after
it dropped the caches it controls) and ``repeats`` hot rounds. ``python -m
pagepulse.bench.engines`` runs one engine in a fresh process (see ``__main__``).
"""

from __future__ import annotations

import datetime as dt
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pagepulse.query import WIDGETS, Period

STEPS: tuple[str, ...] = (
    "top_stats",
    "timeseries",
    *WIDGETS,
    "current_visitors",
    "previous_top_stats",
)
ENGINES = ("pagepulse", "clickhouse", "clickhouse-exact", "naive")
SESSION_GAP = dt.timedelta(minutes=30)
CURRENT_VISITORS_WINDOW = dt.timedelta(minutes=5)

# A breakdown dimension is its visit's first event's column (the engines' SQL splices
# column names from here only). Versions group under their browser / OS; untagged
# visits are no row of a referrer or UTM breakdown.
DIMENSION_COLUMNS: dict[str, str] = {
    "visit:source": "referrer_source",
    "visit:referrer": "referrer",
    "visit:utm_source": "utm_source",
    "visit:utm_medium": "utm_medium",
    "visit:utm_campaign": "utm_campaign",
    "visit:utm_content": "utm_content",
    "visit:utm_term": "utm_term",
    "visit:country": "country",
    "visit:browser": "browser",
    "visit:browser_version": "browser_version",
    "visit:os": "os",
    "visit:os_version": "os_version",
    "visit:device": "device",
}
PARENT_COLUMNS: dict[str, str] = {"visit:browser_version": "browser", "visit:os_version": "os"}
UTM_TAGS = ("source", "medium", "campaign", "content", "term")
SKIP_EMPTY = frozenset(("visit:referrer", *(f"visit:utm_{tag}" for tag in UTM_TAGS)))


@dataclass(frozen=True, slots=True)
class Request:
    """One dashboard view: a site's local period, seen at ``now`` (for realtime).

    ``lake`` is the compacted lake, ``raw_lake`` the same events uncompacted (the
    naive engine reads that one).
    """

    lake: Path
    raw_lake: Path
    site_id: int
    period: Period
    now: dt.datetime


class Engine(Protocol):
    name: str

    def prepare(self) -> dict[str, float]:
        """Load what the engine needs before the first request; figures to report."""
        ...

    def drop_caches(self) -> None:
        """Forget what the engine caches itself, so the next round is cold."""
        ...

    def steps(self, request: Request) -> dict[str, Callable[[], Any]]:
        """One callable per name of :data:`STEPS`, in that order."""
        ...

    def close(self) -> None: ...


@dataclass
class Measurement:
    engine: str
    cold: dict[str, float]
    hot: dict[str, float]  # median of the hot rounds
    answer: dict[str, Any]
    prepare: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def breakdown_columns(widget: str) -> tuple[str, str, bool] | None:
    """(column, parent column or '', skip empty names) of a breakdown widget, else None."""
    dimension = WIDGETS[widget].params.get("dimension")
    if dimension is None:
        return None
    return DIMENSION_COLUMNS[dimension], PARENT_COLUMNS.get(dimension, ""), dimension in SKIP_EMPTY


def page(rows: list[dict[str, Any]], widget: str) -> dict[str, Any]:
    """A widget's answer from its first ``limit + 1`` rows, as ``pagepulse.query.widget``."""
    limit = WIDGETS[widget].default_limit
    return {"rows": rows[:limit], "has_more": len(rows) > limit}


def make_engine(name: str, request: Request) -> Engine:
    if name == "pagepulse":
        from pagepulse.bench.engines.pagepulse import PagePulseEngine

        return PagePulseEngine()
    if name in ("clickhouse", "clickhouse-exact"):
        from pagepulse.bench.engines.clickhouse import ClickHouseEngine

        return ClickHouseEngine(request, exact=name == "clickhouse-exact")
    if name == "naive":
        from pagepulse.bench.engines.naive import NaiveEngine

        return NaiveEngine()
    raise ValueError(f"unknown engine {name!r} (one of {', '.join(ENGINES)})")


def run_engine(name: str, request: Request, repeats: int = 5) -> Measurement:
    """Prepare the engine, then one cold round and ``repeats`` hot rounds of every step.

    With no hot rounds the hot figures are the cold ones. For PagePulse, the answer
    is that of one ``pagepulse.query.dashboard`` call (after the rounds), timed as
    ``extra["dashboard()"]``.
    """
    engine = make_engine(name, request)
    try:
        prepared = engine.prepare()
        engine.drop_caches()
        steps = engine.steps(request)
        assert tuple(steps) == STEPS, list(steps)
        cold, answer = _round(steps)
        hot_rounds = [_round(steps)[0] for _ in range(repeats)] or [cold]
        hot = {step: statistics.median(r[step] for r in hot_rounds) for step in cold}
        extra = {}
        dashboard = getattr(engine, "dashboard", None)
        if dashboard is not None:
            started = time.perf_counter()
            answer = dashboard(request)
            extra["dashboard()"] = time.perf_counter() - started
        return Measurement(name, cold, hot, answer, prepared, peak_rss_mb(), extra)
    finally:
        engine.close()


def peak_rss_mb() -> float:
    """This process's own peak resident set so far, in MB.

    ``VmHWM`` where Linux has it: ``ru_maxrss`` of a process started by ``fork`` +
    ``exec`` still counts the parent's resident set at the fork (the benchmark's
    parent holds a freshly built lake: it added ~200 MB to the engines' figures).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _round(steps: dict[str, Callable[[], Any]]) -> tuple[dict[str, float], dict[str, Any]]:
    timings: dict[str, float] = {}
    answer: dict[str, Any] = {}
    for name, step in steps.items():
        started = time.perf_counter()
        answer[name] = step()
        timings[name] = time.perf_counter() - started
    timings["total"] = sum(timings.values())
    return timings, answer
