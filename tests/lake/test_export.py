"""Export: a folder or zip in the lake's layout that reads back as exactly the site's live
rows for the range, even while compaction replaces and deletes files mid-export."""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
import threading
import zipfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from pagepulse.cli import app
from pagepulse.config import Settings
from pagepulse.control.db import open_database
from pagepulse.control.sites import create_site
from pagepulse.control.users import create_user
from pagepulse.lake import export as export_module
from pagepulse.lake.compaction import compact_lake
from pagepulse.lake.export import ExportExists, export_site
from pagepulse.lake.layout import partition_dir, partition_files, publish_table
from pagepulse.lake.schema import EVENT_COLUMNS, EVENT_SCHEMA, STRING_COLUMNS

DAYS = [dt.date(2026, 4, 1) + dt.timedelta(days=n) for n in range(4)]
_ids = itertools.count()


def table(day: dt.date, count: int) -> pa.Table:
    """``count`` events of ``day``, each with a unique pathname (``/e/<n>``)."""
    base = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
    rows = []
    for _ in range(count):
        n = next(_ids)
        row = dict.fromkeys(STRING_COLUMNS, "")
        row.update(ts=base + dt.timedelta(seconds=n % 86_000), visitor_id=n % 97,
                   name="pageview", pathname=f"/e/{n}", screen_width=1280,
                   props=[("n", str(n))] if n % 3 == 0 else [])  # fmt: skip
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)


def write(events: Path, site_id: int, day: dt.date, name: str, count: int = 5) -> None:
    publish_table(table(day, count), partition_dir(events, site_id, day) / f"{name}.parquet")


@pytest.fixture
def events(tmp_path: Path) -> Path:
    """Sites 1 and 2, four days, three files a day; site 1's second day compacted with
    its replaced files still there (inside the grace period)."""
    events = tmp_path / "events"
    for site_id, day, n in itertools.product((1, 2), DAYS, range(3)):
        write(events, site_id, day, f"wal-{n}")
    compact_lake(events, site_id=1, day=DAYS[1])
    return events


COLUMNS = ", ".join(EVENT_COLUMNS)


def live_rows(events: Path, site_id: int, days: list[dt.date]) -> list[tuple]:
    files = [str(p) for p in partition_files(events, site_id, days)]
    with duckdb.connect() as conn:
        return conn.execute(
            f"SELECT {COLUMNS} FROM read_parquet($f) ORDER BY pathname", {"f": files}
        ).fetchall()


def exported_rows(folder: Path) -> list[tuple]:
    """Read an export as its doc says: the glob with hive partitioning."""
    glob = str(folder / "events" / "site_id=*" / "date=*" / "*.parquet")
    with duckdb.connect() as conn:
        return conn.execute(
            f"SELECT {COLUMNS}, site_id, date FROM read_parquet($g, hive_partitioning = true) "
            "ORDER BY pathname",
            {"g": glob},
        ).fetchall()


def check_export(folder: Path, events: Path, site_id: int, days: list[dt.date]) -> None:
    rows = exported_rows(folder)
    assert [row[:-2] for row in rows] == live_rows(events, site_id, days)
    assert {row[-2] for row in rows} == {site_id}
    assert {row[-1] for row in rows} == set(days)
    assert len({row[EVENT_COLUMNS.index("pathname")] for row in rows}) == len(rows)  # once each


def test_folder_export_of_a_range_reads_back_as_the_live_rows(events, tmp_path):
    dest = tmp_path / "out"
    result = export_site(events, 1, dest, start=DAYS[1], end=DAYS[2])
    check_export(dest, events, 1, DAYS[1:3])
    assert (result.days, result.files) == (2, 1 + 3)  # the compacted day is one file
    names = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert names == sorted([*result.names, "README.md"])
    readme = (dest / "README.md").read_text()
    assert "## Columns" in readme and "## Export" in readme
    assert all(f"| `{column}` |" in readme for column in EVENT_COLUMNS)
    assert not list(tmp_path.glob(".out.*"))  # no temporary left


def test_zip_export_of_every_day(events, tmp_path):
    dest = tmp_path / "site.zip"
    result = export_site(events, 1, dest)
    with zipfile.ZipFile(dest) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted([*result.names, "README.md"])
        archive.extractall(tmp_path / "unzipped")
    check_export(tmp_path / "unzipped", events, 1, DAYS)
    assert result.days == 4


def test_an_export_never_overwrites(events, tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(ExportExists):
        export_site(events, 1, tmp_path / "taken")
    assert export_site(events, 3, tmp_path / "empty").files == 0  # a site without events


def test_files_deleted_between_listing_and_copying_are_listed_again(events, tmp_path, monkeypatch):
    """Compaction publishes and, past its grace period, deletes the listed files right
    after the export listed them: the day is listed again and read from the new file."""
    real_live_files = export_module.live_files
    compacted_days = []

    def list_then_compact(folder: Path) -> list[Path]:
        files = real_live_files(folder)
        if folder.name not in compacted_days and len(files) > 1:
            compacted_days.append(folder.name)
            compact_lake(events, site_id=1, grace_seconds=0)  # every day, deletes at once
        return files

    expected = live_rows(events, 1, DAYS)
    monkeypatch.setattr(export_module, "live_files", list_then_compact)
    result = export_site(events, 1, tmp_path / "out")
    assert result.retries >= 1
    check_export(tmp_path / "out", events, 1, DAYS)
    assert live_rows(events, 1, DAYS) == expected


def test_files_deleted_while_being_copied_are_still_copied_whole(events, tmp_path, monkeypatch):
    """Once a day's files are open, compaction deleting them changes nothing."""
    real_copy = shutil.copyfileobj
    expected = live_rows(events, 1, DAYS)
    compactions = []

    def compact_then_copy(source, target, *args):
        if not compactions:
            compactions.append(compact_lake(events, site_id=1, grace_seconds=0))
        return real_copy(source, target, *args)

    monkeypatch.setattr(export_module.shutil, "copyfileobj", compact_then_copy)
    result = export_site(events, 1, tmp_path / "out.zip")
    assert compactions[0].deleted > 0 and result.retries == 0
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        archive.extractall(tmp_path / "unzipped")
    check_export(tmp_path / "unzipped", events, 1, DAYS)
    assert live_rows(events, 1, DAYS) == expected


def test_export_while_ingestion_and_compaction_run(events, tmp_path):
    """Files arrive and are compacted (and deleted at once) throughout the export: every
    event that was there before it started is in it, and no event is in it twice."""
    before = {row[EVENT_COLUMNS.index("pathname")] for row in live_rows(events, 1, DAYS)}
    stop = threading.Event()

    def churn() -> None:
        for n in itertools.count():
            if stop.is_set():
                return
            write(events, 1, DAYS[n % 4], f"wal-churn-{n}", count=2)
            if n % 3 == 0:
                compact_lake(events, site_id=1, grace_seconds=0)

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for attempt in range(5):
            dest = tmp_path / f"out-{attempt}"
            export_site(events, 1, dest)
            exported = [row[EVENT_COLUMNS.index("pathname")] for row in exported_rows(dest)]
            assert len(exported) == len(set(exported))
            assert before <= set(exported)
    finally:
        stop.set()
        worker.join()


def test_the_cli_exports_a_folder_or_a_zip(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGEPULSE_DATA_DIR", str(tmp_path / "data"))
    settings = Settings()
    conn = open_database(settings.db_path)
    site = create_site(conn, "example.com", create_user(conn, "a@example.com", "long-password").id)
    conn.close()
    for day in DAYS:
        write(settings.events_dir, site.id, day, "wal-0")
    runner = CliRunner()
    folder = tmp_path / "export"
    args = ["export", "--site", str(site.id), "--from", str(DAYS[1]), "--to", str(DAYS[2])]
    result = runner.invoke(app, [*args, str(folder)])
    assert result.exit_code == 0, result.output
    assert "exported 2 days, 2 files" in result.output
    check_export(folder, settings.events_dir, site.id, DAYS[1:3])

    result = runner.invoke(app, ["export", "--site", str(site.id), str(tmp_path / "all.zip")])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        archive.extractall(tmp_path / "all")
    check_export(tmp_path / "all", settings.events_dir, site.id, DAYS)

    assert runner.invoke(app, [*args, str(folder)]).exit_code == 1  # exists
    assert runner.invoke(app, ["export", "--site", "999", str(tmp_path / "x")]).exit_code != 0
    bad_date = runner.invoke(app, ["export", "--site", str(site.id), "--from", "May", "x"])
    assert bad_date.exit_code != 0
