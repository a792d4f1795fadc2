"""``pagepulse bench compare`` in quick mode: the three engines give the same numbers.

The real import and compaction path builds a small lake (~200k events, 20 sites; a
week, so that the 140 daily imports stay quick); PagePulse, ClickHouse (Plausible's
design, ``uniqExact``) and naive DuckDB then answer site 1's whole dashboard, and
every value must be equal. No timing is asserted. Needs chDB (the ``bench`` and ``dev`` extras).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("chdb", reason="chdb is not installed: pip install -e '.[bench]'")

from pagepulse.bench.dashboard import bench_compare
from pagepulse.bench.engines.answers import differences


def test_the_three_engines_give_the_same_dashboard(tmp_path: Path) -> None:
    lines: list[str] = []
    results = bench_compare(
        200_000,
        7,
        root=tmp_path / "compare",
        repeats=0,
        engines=("pagepulse", "clickhouse-exact", "naive"),
        in_process=True,
        print_fn=lines.append,
    )
    ours = results["pagepulse"].answer
    assert ours["top_stats"]["visits"] > 0
    assert all(ours[name]["rows"] for name in ("top_pages", "sources", "custom_events"))
    for engine in ("clickhouse-exact", "naive"):
        assert differences(ours, results[engine].answer) == [], engine
    # The data has visits across UTC midnight, so all three join them the same way.
    assert results["clickhouse-exact"].prepare["continued_visits"] > 0
    assert "clickhouse-exact vs pagepulse: same numbers" in lines
