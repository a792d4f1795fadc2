"""``pagepulse bench compare``: PagePulse's dashboard against ClickHouse and naive DuckDB.

1. Build the lake (:func:`build_lake`): ``benchmark_specs`` traffic (site 1 gets ~90%)
   exported as one Parquet file per site and local day, each imported with the real
   ``import_file`` into ``raw/`` (kept uncompacted for the naive engine); a hard-linked
   copy ``lake/`` is compacted with ``compact_lake`` (timed). Storage is reported in
   bytes per event before and after. A lake built for the same ``events``/``days`` is
   reused (``fresh=True`` rebuilds it). Compaction also writes the derived visits
   files (beside ``lake/``: ``visits/``, ``visit_events/``, ``visit_groups/``), whose
   size is reported separately.
2. Run each engine of :mod:`pagepulse.bench.engines` in a fresh process, one after the
   other (never two at once on a shared machine): one cold round, then ``repeats`` hot
   rounds, of the full dashboard of site 1 over ``days`` local days.
3. Print the figures side by side with ratios, and every value where ClickHouse
   (``uniqExact``) or naive DuckDB differ from PagePulse.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow.parquet as pq

from pagepulse.bench.engines import STEPS, Measurement, Request, run_engine
from pagepulse.bench.engines.answers import differences, differing_steps
from pagepulse.demo.generator import benchmark_specs, generate
from pagepulse.lake.compaction import compact_lake
from pagepulse.lake.importer import import_file
from pagepulse.lake.visits import derived_roots
from pagepulse.query import Period

START = dt.date(2025, 3, 1)
ORDER = ("pagepulse", "clickhouse", "clickhouse-exact", "naive")
# Engines whose answers must equal PagePulse's; ``clickhouse`` counts visitors
# approximately, so its differences are only counted.
EXACT = ("clickhouse-exact", "naive")


# Bumped when the generated lake changes shape (2: events carry prev_visitor_id);
# a lake built in an older shape is built again.
LAKE_FORMAT = 2


@dataclass
class LakeFigures:
    events: int
    days: int
    rows: int
    import_files: int
    generate_import_s: float
    raw_bytes: int
    raw_files: int
    compaction_s: float
    compacted_bytes: int
    compacted_files: int
    format: int = 1
    derived_bytes: int = 0  # data/visits, data/visit_events, data/visit_groups
    derived_files: int = 0

    @property
    def raw_bytes_per_event(self) -> float:
        return self.raw_bytes / max(self.rows, 1)

    @property
    def compacted_bytes_per_event(self) -> float:
        return self.compacted_bytes / max(self.rows, 1)

    @property
    def derived_bytes_per_event(self) -> float:
        return self.derived_bytes / max(self.rows, 1)


def build_lake(
    root: Path, events: int, days: int, *, fresh: bool = False, print_fn: Callable = print
) -> LakeFigures:
    """``root/raw`` (imported) and ``root/lake`` (compacted); figures kept in a manifest."""
    manifest = root / "manifest.json"
    if not fresh and manifest.is_file():
        figures = LakeFigures(**json.loads(manifest.read_text()))
        if (figures.events, figures.days, figures.format) == (events, days, LAKE_FORMAT):
            print_fn(f"reusing the lake in {root} (built earlier; --fresh rebuilds it)")
            return figures
    shutil.rmtree(root, ignore_errors=True)
    raw, lake, exports = root / "raw", root / "lake", root / "exports"
    exports.mkdir(parents=True)
    print_fn(f"generating ~{events:,} events over {days} days, importing them into {raw} …")
    started = time.perf_counter()
    rows = imports = 0
    for site_id, local_day, table in generate(benchmark_specs(events, days), START, days, seed=1):
        # A site's daily export, imported as a user would (`pagepulse import`).
        export = exports / f"site{site_id}-{local_day}.parquet"
        pq.write_table(table, export)
        rows += import_file(raw, site_id, export).rows
        imports += 1
        export.unlink()
    generate_import_s = time.perf_counter() - started
    shutil.copytree(raw, lake, copy_function=os.link)  # compaction never edits a file
    print_fn(f"compacting {lake} …")
    started = time.perf_counter()
    compact_lake(lake, grace_seconds=0)
    compaction_s = time.perf_counter() - started
    raw_bytes, raw_files = _parquet_size(raw)
    compacted_bytes, compacted_files = _parquet_size(lake)
    derived = [_parquet_size(root) for root in derived_roots(lake)]
    figures = LakeFigures(
        events, days, rows, imports, generate_import_s, raw_bytes, raw_files,
        compaction_s, compacted_bytes, compacted_files, LAKE_FORMAT,
        sum(size for size, _ in derived), sum(count for _, count in derived),
    )  # fmt: skip
    manifest.write_text(json.dumps(asdict(figures), indent=2))
    return figures


def dashboard_request(root: Path, events: int, days: int) -> Request:
    """Site 1 (the biggest), its ``days`` local days from START, seen an hour before the end."""
    spec = benchmark_specs(events, days)[0]
    period = Period(START, START + dt.timedelta(days=days - 1), spec.timezone)
    now = period.utc_end - dt.timedelta(hours=1)
    return Request(root / "lake", root / "raw", spec.site_id, period, now)


def run_in_child(name: str, request: Request, repeats: int) -> Measurement:
    """:func:`run_engine` in a fresh Python process (``python -m pagepulse.bench.engines``)."""
    with tempfile.TemporaryDirectory(prefix="pagepulse-bench-") as tmp:
        out = Path(tmp) / "measurement.pickle"
        period = request.period
        args = [
            name, request.lake, request.raw_lake, request.site_id, period.start, period.end,
            period.timezone, request.now.isoformat(), repeats, out,
        ]  # fmt: skip
        command = [sys.executable, "-m", "pagepulse.bench.engines", *map(str, args)]
        subprocess.run(command, check=True)
        return pickle.loads(out.read_bytes())


def bench_compare(
    events: int = 10_000_000,
    days: int = 30,
    *,
    root: Path = Path(".bench/compare"),
    repeats: int = 5,
    naive_repeats: int | None = None,
    engines: tuple[str, ...] = ORDER,
    fresh: bool = False,
    in_process: bool = False,
    print_fn: Callable[[str], None] = print,
) -> dict[str, Measurement]:
    """Build (or reuse) the lake, run every engine, print the comparison."""
    lake = build_lake(root, events, days, fresh=fresh, print_fn=print_fn)
    request = dashboard_request(root, events, days)
    results: dict[str, Measurement] = {}
    for name in engines:
        rounds = naive_repeats if name == "naive" and naive_repeats is not None else repeats
        print_fn(f"running {name} ({rounds} hot rounds) …")
        run = run_engine if in_process else run_in_child
        results[name] = run(name, request, rounds)
    print_report(lake, request, results, print_fn)
    return results


def print_report(
    lake: LakeFigures,
    request: Request,
    results: dict[str, Measurement],
    print_fn: Callable[[str], None] = print,
) -> None:
    names = [name for name in ORDER if name in results]
    print_fn("")
    print_fn(
        f"lake: {lake.rows:,} events, {lake.days} days; site {request.site_id} over "
        f"{request.period.start}..{request.period.end} ({request.period.timezone})"
    )
    print_fn(
        f"  imported ({lake.import_files} files, import_file): {lake.raw_files} files, "
        f"{lake.raw_bytes_per_event:.1f} B/event; generate+import {lake.generate_import_s:.1f} s"
    )
    print_fn(
        f"  compacted: {lake.compacted_files} files, {lake.compacted_bytes_per_event:.1f} "
        f"B/event, + derived visits {lake.derived_files} files, "
        f"{lake.derived_bytes_per_event:.1f} B/event; compact_lake {lake.compaction_s:.1f} s"
    )
    print_fn("")
    header = f"{'seconds':<20}" + "".join(f"{_short(n) + ' cold':>11}{'hot':>8}" for n in names)
    ratios = [n for n in ("clickhouse", "clickhouse-exact", "naive") if n in results]
    if "pagepulse" in results:
        header += "".join(f"{_short(n) + '/pp hot':>13}{'cold':>7}" for n in ratios)
    print_fn(header)
    for step in [*STEPS, "total"]:
        line = f"{step:<20}"
        for name in names:
            line += f"{results[name].cold[step]:>11.3f}{results[name].hot[step]:>8.3f}"
        if "pagepulse" in results:
            ours = results["pagepulse"]
            for name in ratios:
                line += f"{_ratio(results[name].hot[step], ours.hot[step]):>13}"
                line += f"{_ratio(results[name].cold[step], ours.cold[step]):>7}"
        print_fn(line)
    print_fn("")
    for name in names:
        result = results[name]
        notes = ", ".join(
            f"{key} {value:.2f} s" if key.endswith("_s") or key.endswith("()") else
            f"{key} {value / 1e6:.1f} MB" if key.endswith("_bytes") else
            f"{key} {value:,.0f}"
            for key, value in {**result.prepare, **result.extra}.items()
        )  # fmt: skip
        print_fn(f"{name}: peak RSS {result.peak_rss_mb:,.0f} MB" + (f"; {notes}" if notes else ""))
    if "pagepulse" not in results:
        return
    print_fn("")
    for name in names[1:]:
        lines = differences(results["pagepulse"].answer, results[name].answer)
        verdict = "same numbers" if not lines else f"{len(lines)} values differ"
        where = f" in {', '.join(sorted(differing_steps(lines)))}" if lines else ""
        print_fn(f"{name} vs pagepulse: {verdict}{where}")
        if name in EXACT:
            for line in lines[:50]:
                print_fn(f"  {line}")


def _short(name: str) -> str:
    return {"pagepulse": "pp", "clickhouse": "ch", "clickhouse-exact": "chx"}.get(name, name)


def _ratio(theirs: float, ours: float) -> str:
    return f"{theirs / ours:.1f}x" if ours > 0 else "-"


def _parquet_size(folder: Path) -> tuple[int, int]:
    files = list(folder.rglob("*.parquet"))
    return sum(path.stat().st_size for path in files), len(files)
