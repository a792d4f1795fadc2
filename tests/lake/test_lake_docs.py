"""docs/lake.md stays true: every SQL and Python example runs against a generated lake."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from pagepulse.demo.generator import SiteSpec, generate, write_lake
from pagepulse.lake import visit_tables
from pagepulse.lake.compaction import compact_lake
from pagepulse.lake.export import export_site
from pagepulse.lake.schema import EVENT_COLUMNS

DOC = Path(__file__).parents[2] / "docs" / "lake.md"
TEXT = DOC.read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", TEXT, flags=re.DOTALL | re.MULTILINE)


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory) -> Path:
    """A folder holding ``data/events`` with the last 10 days of site 1 (and a site 2),
    and ``pagepulse-export`` with site 1's export."""
    root = tmp_path_factory.mktemp("lake")
    specs = [
        SiteSpec(1, "example.com", "Europe/Berlin", 400),
        SiteSpec(2, "other.example", "Asia/Tokyo", 100),
    ]
    start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=9)
    write_lake(root / "data" / "events", generate(specs, start, 10, seed=3))
    # Compacted, as a running server leaves it: the past days have their visits files,
    # written as a big site's are (in blocks, with groups) however small these days.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(visit_tables, "SPLIT_VISITS", 0)
        compact_lake(root / "data" / "events", grace_seconds=0, workers=1)
    # The Export section's examples read site 1's export, extracted as the doc says.
    export_site(root / "data" / "events", 1, root / "pagepulse-export.zip")
    with zipfile.ZipFile(root / "pagepulse-export.zip") as archive:
        archive.extractall(root / "pagepulse-export")
    return root


def test_the_doc_has_the_promised_examples():
    assert len(blocks("sql")) >= 3
    assert len(blocks("python")) >= 2


@pytest.mark.parametrize("query", blocks("sql"), ids=lambda q: q.split("\n", 1)[0][:40])
def test_sql_examples_return_rows(query: str, lake_root: Path, monkeypatch):
    monkeypatch.chdir(lake_root)
    rows = duckdb.connect().sql(query).fetchall()
    assert rows
    assert all(value is not None for row in rows for value in row)


@pytest.mark.parametrize("code", blocks("python"), ids=lambda c: c.split("\n", 1)[0][:40])
def test_python_examples_run(code: str, lake_root: Path, monkeypatch):
    monkeypatch.chdir(lake_root)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    results = [value for value in namespace.values() if isinstance(value, list | pl.DataFrame)]
    assert results
    assert all(len(result) > 0 for result in results)


def section(title: str) -> str:
    return TEXT.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_every_column_is_documented():
    table_rows = re.findall(r"^\| `(\w+)` \|", section("Columns"), flags=re.MULTILINE)
    assert table_rows == list(EVENT_COLUMNS)


def test_every_visits_column_is_documented(lake_root: Path):
    documented = set()
    for row in re.findall(r"^\| (`.*?) \|", section("Visits: derived files"), flags=re.M):
        documented |= set(re.findall(r"`(\w+)`", row))
    written = set()
    for pattern in ("data/visits/*/*/*.parquet", "data/visit_events/*/*/*.parquet",
                    "data/visit_groups/*/*/*.parquet"):  # fmt: skip
        [path, *_] = sorted(lake_root.glob(pattern))
        written |= set(pq.read_schema(path).names)
    assert written <= documented, written - documented
