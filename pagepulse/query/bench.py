"""Dashboard benchmark: every widget over a generated site, cold and hot.

``pagepulse bench dashboard`` calls :func:`bench_dashboard`. It generates (or reuses)
a lake with ``pagepulse.demo.generator`` (site 1 gets ~90% of ``events``), then times
a full dashboard for site 1 over ``days`` local days, in four states of the caches:

* *cold*: the first request of the process (nothing cached, files read from disk or
  the OS page cache);
* *rebuilt*: the median of ``repeats`` requests with every cache of the query layer
  cleared first (days read again from their page-cached visits files), as after a restart
  with the files in the OS page cache;
* *hot*: the median of ``repeats`` repeated requests of a running server: sessionised
  days cached, the scope built anew (a reload, a new filter or range) — the "hot"
  of the issues (median of repeated runs after start);
* *warm*: the scope cached too (the other lazily loaded widgets of one view).

The lake is compacted first (a no-op when it already is), so compacted days are read
from their visits files as on a running server. The first step builds the scope;
each widget is then timed alone. Nothing here asserts a speed.
"""

from __future__ import annotations

import datetime as dt
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pagepulse.bench.engines import peak_rss_mb
from pagepulse.demo.generator import benchmark_specs, generate, write_lake
from pagepulse.lake.compaction import compact_lake
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
    """Print and return per-step and total seconds per cache state (medians)."""
    runner.REMEMBER_ANSWERS = False  # every step runs its query
    spec = benchmark_specs(events, days)[0]
    if not site_days(events_dir, spec.site_id):
        print_fn(f"generating ~{events:,} events over {days} days into {events_dir} …")
        write_lake(events_dir, generate([spec], START, days + 1, seed=1))
    # As a running server keeps it: compacted, every past day with its visits files.
    started = time.perf_counter()
    compacted = compact_lake(events_dir)
    if compacted.partitions or compacted.visits:
        print_fn(
            f"compacted {compacted.partitions} partitions, wrote {compacted.visits} days of "
            f"visits in {time.perf_counter() - started:.1f} s"
        )
    period = Period(START, START + dt.timedelta(days=days - 1), spec.timezone)
    scope = runner.Scope(events_dir, spec.site_id, period)
    now = period.utc_end - dt.timedelta(hours=1)

    steps: dict[str, Callable[[], object]] = {
        "scope (build)": lambda: runner.run("top_stats", scope),
        "top_stats": lambda: dash.top_stats(scope),
        "timeseries": lambda: dash.timeseries(scope),
        **{name: _widget_step(scope, name) for name in dash.WIDGETS},
        "current_visitors": lambda: dash.current_visitors(
            events_dir, spec.site_id, spec.timezone, now=now
        ),
    }
    modes = {
        "cold": (runner.clear_caches, 1),
        "rebuilt": (runner.clear_caches, repeats),
        "hot": (runner.scope_cache.clear, repeats),
        "warm": (lambda: None, repeats),
    }
    timings: dict[str, dict[str, list[float]]] = {}
    for mode, (reset, rounds) in modes.items():
        timings[mode] = {name: [] for name in [*steps, "total"]}
        for _ in range(rounds):
            # A fresh thread is a fresh connection.
            worker = threading.Thread(target=_one_request, args=(steps, timings[mode], reset))
            worker.start()
            worker.join()
    # The previous-period comparison needs a second scope: timed separately.
    compare = _seconds(lambda: dash.top_stats(scope.with_period(period.previous())))
    full = {}
    for mode in ("rebuilt", "hot"):
        if mode == "rebuilt":
            runner.clear_caches()
        else:
            runner.scope_cache.clear()
        full[mode] = _seconds(lambda: dash.dashboard(scope, now=now))

    result = {}
    print_fn(f"{'step':<22}" + "".join(f"{mode + ' s':>11}" for mode in modes))
    for name in [*steps, "total"]:
        values = [statistics.median(timings[mode][name]) for mode in modes]
        for mode, value in zip(modes, values, strict=True):
            result[f"{name}.{mode}"] = value
        print_fn(f"{name:<22}" + "".join(f"{value:>11.3f}" for value in values))
    print_fn(f"{'previous period':<22}{compare:>9.3f}")
    print_fn(f"{'dashboard() rebuilt':<22}{full['rebuilt']:>9.3f}")
    print_fn(f"{'dashboard() hot':<22}{full['hot']:>9.3f}")
    result["previous_period"] = compare
    result["dashboard.rebuilt"], result["dashboard.hot"] = full["rebuilt"], full["hot"]
    result["peak_rss_mb"] = peak_rss_mb()
    print_fn(f"{'peak RSS':<22}{result['peak_rss_mb']:>7.0f} MB")
    return result


def _widget_step(scope: runner.Scope, name: str) -> Callable[[], object]:
    return lambda: dash.widget(scope, name)


def _one_request(
    steps: dict[str, Callable[[], object]],
    timings: dict[str, list[float]],
    reset: Callable[[], object],
) -> None:
    reset()
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
