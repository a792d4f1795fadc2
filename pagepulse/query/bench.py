"""Dashboard benchmark: every widget over a generated site, cold and hot.

``pagepulse bench dashboard`` calls :func:`bench_dashboard`. It generates (or reuses)
a lake with ``pagepulse.demo.generator`` (site 1 gets ~90% of ``events``), then times
a full dashboard for site 1 over ``days`` local days: *cold* is the first request on a
fresh connection (scope tables built, files read from the page cache at best), *hot*
the median of ``repeats`` further requests with the scope rebuilt each time (a new
request) — the widgets alone are also shown. Nothing here asserts a speed.
"""

from __future__ import annotations

import datetime as dt
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pagepulse.demo.generator import benchmark_specs, generate, write_lake
from pagepulse.lake.layout import site_days
from pagepulse.query import runner
from pagepulse.query import widgets as dash
from pagepulse.query.periods import Period

START = dt.date(2025, 3, 1)


def bench_dashboard(
    events: int = 10_000_000,
    days: int = 30,
    *,
    events_dir: Path = Path(".bench/dashboard-events"),
    repeats: int = 5,
    print_fn: Callable[[str], None] = print,
) -> dict[str, float]:
    """Print and return per-step and total seconds (cold, hot median)."""
    spec = benchmark_specs(events, days)[0]
    if not site_days(events_dir, spec.site_id):
        print_fn(f"generating ~{events:,} events over {days} days into {events_dir} …")
        write_lake(events_dir, generate([spec], START, days + 1, seed=1))
    period = Period(START, START + dt.timedelta(days=days - 1), spec.timezone)
    scope = runner.Scope(events_dir, spec.site_id, period)
    now = period.utc_end - dt.timedelta(hours=1)

    steps: dict[str, Callable[[], object]] = {
        "scope (sessionise)": lambda: runner.run("top_stats", scope),
        "top_stats": lambda: dash.top_stats(scope),
        "timeseries": lambda: dash.timeseries(scope),
        **{name: _widget_step(scope, name) for name in dash.WIDGETS},
        "current_visitors": lambda: dash.current_visitors(
            events_dir, spec.site_id, spec.timezone, now=now
        ),
    }
    timings: dict[str, list[float]] = {name: [] for name in [*steps, "total"]}
    # A fresh thread is a fresh connection: the first round is cold.
    for _ in range(repeats + 1):
        worker = threading.Thread(target=_one_request, args=(steps, timings))
        worker.start()
        worker.join()
    # The previous-period comparison needs a second scope: timed separately.
    compare = _seconds(lambda: dash.top_stats(scope.with_period(period.previous())))

    result = {}
    print_fn(f"{'step':<22}{'cold s':>9}{'hot s':>9}")
    for name, values in timings.items():
        cold, hot = values[0], statistics.median(values[1:])
        result[f"{name}.cold"], result[f"{name}.hot"] = cold, hot
        print_fn(f"{name:<22}{cold:>9.3f}{hot:>9.3f}")
    print_fn(f"{'previous period':<22}{compare:>9.3f}")
    result["previous_period"] = compare
    return result


def _widget_step(scope: runner.Scope, name: str) -> Callable[[], object]:
    return lambda: dash.widget(scope, name)


def _one_request(steps: dict[str, Callable[[], object]], timings: dict[str, list[float]]) -> None:
    runner._state().scope_key = None  # a new request builds its scope
    total = 0.0
    for name, step in steps.items():
        seconds = _seconds(step)
        timings[name].append(seconds)
        total += seconds
    timings["total"].append(total)


def _seconds(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started
