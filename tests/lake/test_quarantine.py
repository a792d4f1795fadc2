"""A damaged Parquet file in the lake: set aside and reported, and nothing else is lost.

Each kind of damage is made to a real file the way a disk or a person would: cut
short, overwritten with noise, emptied, replaced by a file of another schema, or with
one page's bytes mangled while the footer stays intact (which only a read finds).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pagepulse.cli import app as cli_app
from pagepulse.lake import quarantine
from pagepulse.lake.compaction import compact_lake
from pagepulse.lake.layout import (
    COMPACTED_PREFIX,
    live_files,
    partition_dir,
    publish_table,
    replaced_by,
)
from pagepulse.lake.retention import delete_site_events, enforce_retention
from pagepulse.lake.schema import EVENT_SCHEMA
from pagepulse.query import runner
from pagepulse.query.periods import Period
from tests.query.helpers import event
from tests.support.server import Server
from tests.support.site import log_in

DAY = dt.date(2026, 3, 10)
FILES = 4
ROWS_PER_FILE = 300


def day_rows(file_index: int, day: dt.date = DAY) -> list[dict]:
    """One file's events: visitors shared across files, so distinct counts overlap."""
    rng = random.Random(file_index * 1000 + day.toordinal())
    start = dt.datetime.combine(day, dt.time(1), tzinfo=dt.UTC)
    return [
        event(
            start + dt.timedelta(seconds=rng.randrange(20 * 3600)),
            rng.randrange(1, 150),
            pathname=f"/page/{rng.randrange(12)}",
            hostname="example.com",
            country=rng.choice(["DE", "FR", "US"]),
        )
        for _ in range(ROWS_PER_FILE)
    ]


def write_day(events_dir: Path, site_id: int, day: dt.date = DAY) -> list[Path]:
    folder = partition_dir(events_dir, site_id, day)
    paths = []
    for index in range(FILES):
        table = pa.Table.from_pylist(day_rows(index, day), schema=EVENT_SCHEMA)
        paths.append(publish_table(table, folder / f"wal-{index:04d}.parquet"))
    return paths


# -- damage, as a disk or a person would do it ------------------------------------------


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garbage(path: Path) -> None:
    size = path.stat().st_size
    path.write_bytes(random.Random(7).randbytes(size))


def empty(path: Path) -> None:
    path.write_bytes(b"")


def wrong_schema(path: Path) -> None:
    """A valid Parquet file, but not events: ``ts`` and ``visitor_id`` are text."""
    pq.write_table(pa.table({"ts": ["yesterday"], "visitor_id": ["ann"], "x": [1]}), path)


def bad_page(path: Path) -> None:
    """Mangle the page headers of ``ts`` and ``visitor_id``: the footer stays intact, so
    the file lists and opens, and only reading its pages fails."""
    metadata = pq.read_metadata(path)
    with open(path, "r+b") as file:
        for column in range(2):
            file.seek(metadata.row_group(0).column(column).data_page_offset)
            file.write(b"\xff" * 24)


DAMAGE = {
    "truncated": truncate,
    "garbage": garbage,
    "empty": empty,
    "wrong_schema": wrong_schema,
    "bad_page": bad_page,
}


def good_counts(paths: list[Path]) -> dict:
    """What the dashboard must show for DAY: DuckDB over the given (good) files."""
    with duckdb.connect() as conn:
        files = [str(p) for p in paths]
        visitors, pageviews = conn.execute(
            "SELECT count(DISTINCT visitor_id), count(*) FROM read_parquet($f)", {"f": files}
        ).fetchone()
        pages = conn.execute(
            "SELECT pathname, count(DISTINCT visitor_id) FROM read_parquet($f) GROUP BY 1",
            {"f": files},
        ).fetchall()
    return {"visitors": visitors, "pageviews": pageviews, "pages": dict(pages)}


def quarantined_copies(data_dir: Path, site_id: int) -> list[Path]:
    folder = data_dir / "quarantine" / "events" / f"site_id={site_id}" / f"date={DAY}"
    return sorted(p for p in folder.glob("*") if p.suffix != ".json") if folder.is_dir() else []


# -- the check itself ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_check_file_names_what_is_wrong(tmp_path: Path, kind: str) -> None:
    events = tmp_path / "data" / "events"
    path = write_day(events, 1)[0]
    assert quarantine.check_file(path) is None
    DAMAGE[kind](path)
    reason = quarantine.check_file(path)
    assert reason, f"{kind} passed the check"
    if kind == "wrong_schema":
        assert reason.startswith("schema mismatch: column 'ts' is string")
    # The footer check alone, which every listing does, misses only a bad page.
    assert (quarantine.check_file(path, full=False) is None) == (kind == "bad_page")


def test_a_column_added_later_as_nullable_may_be_missing(tmp_path: Path, monkeypatch) -> None:
    events = tmp_path / "data" / "events"
    path = write_day(events, 1)[0]
    later = EVENT_SCHEMA.append(pa.field("added_later", pa.string(), nullable=True))
    monkeypatch.setitem(quarantine.SCHEMAS, "events", later)
    assert quarantine.check_file(path) is None
    required = EVENT_SCHEMA.append(pa.field("added_later", pa.string(), nullable=False))
    monkeypatch.setitem(quarantine.SCHEMAS, "events", required)
    assert quarantine.check_file(path) == "schema mismatch: no column 'added_later'"


def test_errors_of_the_system_never_quarantine(tmp_path: Path) -> None:
    events = tmp_path / "data" / "events"
    paths = write_day(events, 1)

    def no_memory(path: Path) -> pa.Table:
        raise pa.ArrowMemoryError("malloc of size 1 failed")

    def no_files_left(path: Path) -> pa.Table:
        raise OSError(24, "Too many open files")

    for read in (no_memory, no_files_left):
        with pytest.raises((pa.ArrowMemoryError, OSError)):
            quarantine.read_each(paths, read)
    assert live_files(paths[0].parent) == paths
    assert not (tmp_path / "data" / "quarantine").exists()


def test_a_read_that_fails_once_on_a_good_file_is_read_again(tmp_path: Path) -> None:
    paths = write_day(tmp_path / "data" / "events", 1)
    failed: list[Path] = []

    def flaky(path: Path) -> int:
        if not failed:
            failed.append(path)
            raise pa.ArrowInvalid("looked damaged for a moment")
        return pq.read_metadata(path).num_rows

    assert quarantine.read_each(paths, flaky) == [(p, ROWS_PER_FILE) for p in paths]
    assert failed == [paths[0]] and paths[0].exists()


# -- listing and reading -------------------------------------------------------------------


def test_listing_sets_a_damaged_file_aside_with_a_note_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    paths = write_day(data_dir / "events", 1)
    truncate(paths[2])
    damaged = paths[2].read_bytes()
    with caplog.at_level(logging.WARNING, logger="pagepulse.lake"):
        assert live_files(paths[0].parent) == [paths[0], paths[1], paths[3]]
        assert live_files(paths[0].parent) == [paths[0], paths[1], paths[3]]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "wal-0002.parquet" in warnings[0].getMessage()

    [moved] = quarantined_copies(data_dir, 1)
    assert moved.name.startswith("wal-0002.parquet.") and moved.name.endswith("Z")
    assert moved.read_bytes() == damaged, "set aside untouched, for an operator to recover"
    note = json.loads(moved.with_name(moved.name + ".json").read_text())
    assert note["file"] == f"events/site_id=1/date={DAY}/wal-0002.parquet"
    assert "magic bytes not found" in note["reason"]
    assert note["bytes"] == len(damaged)
    [report] = quarantine.site_report(data_dir, 1).files
    assert (report.file, report.reason, report.path) == (note["file"], note["reason"], moved)
    assert quarantine.site_report(data_dir, 2).count == 0


def test_files_still_being_written_are_never_judged(tmp_path: Path) -> None:
    """Writers publish through hidden temporaries renamed into place: a temporary, however
    incomplete, is not a lake file, and neither listing nor the check touches it."""
    data_dir = tmp_path / "data"
    paths = write_day(data_dir / "events", 1)
    folder = paths[0].parent
    half_written = folder / f".wal-0009.parquet.{os.getpid()}.tmp"
    half_written.write_bytes(paths[0].read_bytes()[:100])
    staged = folder / ".import-0123.staged"
    staged.write_bytes(b"PAR1")
    assert live_files(folder) == paths
    assert quarantine.check_lake(data_dir / "events").moved == []
    assert half_written.exists() and staged.exists()


def test_a_damaged_compacted_file_gives_back_the_files_it_replaced(tmp_path: Path) -> None:
    events = tmp_path / "data" / "events"
    paths = write_day(events, 1)
    folder = paths[0].parent
    before = good_counts(paths)
    compact_lake(events)  # the replaced files stay for the grace period
    [compacted] = live_files(folder)
    assert replaced_by(compacted) == {p.name for p in paths}
    garbage(compacted)
    assert live_files(folder) == paths
    assert good_counts(live_files(folder)) == before


@pytest.mark.parametrize("kind", ["truncated", "bad_page"])
def test_compaction_skips_a_damaged_file_and_compacts_the_rest(tmp_path: Path, kind: str) -> None:
    data_dir = tmp_path / "data"
    paths = write_day(data_dir / "events", 1)
    good = [p for i, p in enumerate(paths) if i != 1]
    expected = good_counts(good)
    DAMAGE[kind](paths[1])
    result = compact_lake(data_dir / "events", grace_seconds=0)
    assert (result.partitions, result.files_in) == (1, 3)
    [compacted] = live_files(paths[0].parent)
    assert compacted.name.startswith(COMPACTED_PREFIX)
    assert replaced_by(compacted) == {p.name for p in good}, "the damaged file is not replaced"
    assert good_counts([compacted]) == expected
    assert len(quarantined_copies(data_dir, 1)) == 1
    # A later run finds nothing to redo.
    assert compact_lake(data_dir / "events").partitions == 0


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_queries_answer_without_the_damaged_file(tmp_path: Path, kind: str) -> None:
    data_dir = tmp_path / "data"
    paths = write_day(data_dir / "events", 1)
    scope = runner.Scope(data_dir / "events", 1, Period(DAY, DAY, "UTC"))
    full = good_counts(paths)
    runner.clear_caches()
    stats = runner.run("top_stats", scope).rows[0]
    assert (stats["visitors"], stats["pageviews"]) == (full["visitors"], full["pageviews"])

    DAMAGE[kind](paths[3])  # after the day was cached: the cache must notice
    expected = good_counts(paths[:3])
    stats = runner.run("top_stats", scope).rows[0]
    assert (stats["visitors"], stats["pageviews"]) == (expected["visitors"], expected["pageviews"])
    pages = runner.run("top_pages", scope, limit=100, offset=0).rows
    assert {row["name"]: row["visitors"] for row in pages} == expected["pages"]
    assert len(quarantined_copies(data_dir, 1)) == 1


def test_a_duckdb_query_over_the_files_sets_the_bad_one_aside(tmp_path: Path) -> None:
    """``current_visitors`` reads the files with DuckDB, which does not say which file
    failed: every file is checked, the bad one set aside, and the query run again."""
    data_dir = tmp_path / "data"
    paths = write_day(data_dir / "events", 1)
    bad_page(paths[0])
    scope = runner.Scope(data_dir / "events", 1, Period(DAY, DAY, "UTC"))
    since = dt.datetime.combine(DAY, dt.time(0), tzinfo=dt.UTC)
    answer = runner.run("current_visitors", scope, since=since, until=since + dt.timedelta(1))
    assert answer.rows == [{"visitors": good_counts(paths[1:])["visitors"]}]
    assert [p.name.split(".parquet")[0] for p in quarantined_copies(data_dir, 1)] == ["wal-0000"]


def test_lake_check_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("PAGEPULSE_DATA_DIR", str(data_dir))
    site1, site2 = write_day(data_dir / "events", 1), write_day(data_dir / "events", 2)
    bad_page(site1[1])  # only a full read finds this one
    empty(site2[0])
    cli = CliRunner()

    first = cli.invoke(cli_app, ["lake", "check", "--site", "1"])
    assert first.exit_code == 1, first.output
    assert f"quarantined events/site_id=1/date={DAY}/wal-0001.parquet" in first.output
    assert "checked 4 files" in first.output and "1 files in quarantine" in first.output
    assert site2[0].exists(), "--site 1 leaves site 2 alone"

    second = cli.invoke(cli_app, ["lake", "check"])
    assert second.exit_code == 1
    assert "checked 7 files" in second.output
    assert f"quarantined events/site_id=2/date={DAY}/wal-0000.parquet: " in second.output
    assert "2 files in quarantine" in second.output

    clean = cli.invoke(cli_app, ["lake", "check"])
    assert clean.exit_code == 0, clean.output
    assert "checked 6 files" in clean.output and "2 files in quarantine" in clean.output


def test_deleting_a_site_or_its_old_days_deletes_its_quarantined_files(tmp_path: Path) -> None:
    """Quarantined files still hold a site's events: the promises of site deletion and
    retention cover them too."""
    data_dir = tmp_path / "data"
    events = data_dir / "events"
    old_day, new_day = dt.date(2025, 1, 10), dt.date(2026, 3, 10)
    for site in (1, 2):
        for day in (old_day, new_day):
            empty(write_day(events, site, day)[0])
            live_files(partition_dir(events, site, day))
            # A file derived from the events (data/visits) holds them too.
            derived = partition_dir(data_dir / "visits", site, day) / "visits-1.parquet"
            derived.parent.mkdir(parents=True)
            derived.write_bytes(b"not parquet")
            assert quarantine.quarantine(derived, "test") is not None
    assert len(quarantine.quarantined(data_dir)) == 8

    def derived_site(site: int) -> Path:
        return data_dir / "quarantine" / "visits" / f"site_id={site}"

    enforce_retention(events, {1: 6}, today=dt.date(2026, 3, 20))
    assert [f.file.split("/")[1:3] for f in quarantine.quarantined(data_dir, 1)] == [
        ["site_id=1", f"date={new_day}"]
    ]
    assert [p.name for p in derived_site(1).iterdir()] == [f"date={new_day}"]
    assert quarantine.site_report(data_dir, 2).count == 2, "other sites keep theirs"

    delete_site_events(events, 2)
    assert quarantine.quarantined(data_dir, 2) == []
    assert not (data_dir / "quarantine" / "events" / "site_id=2").exists()
    assert not derived_site(2).exists()
    assert quarantine.site_report(data_dir, 1).count == 1


# -- over HTTP: the owner's dashboard ---------------------------------------------------


def dashboard_numbers(http: httpx.Client, site: int, day_range: str) -> dict:
    """The dashboard's visitors, pageviews and top pages, from its JSON widget route."""
    stats = http.get(f"/sites/{site}/widget?name=top_stats&format=json&{day_range}")
    pages = http.get(f"/sites/{site}/widget?name=top_pages&format=json&limit=100&{day_range}")
    assert stats.status_code == pages.status_code == 200
    top = stats.json()["top_stats"]
    rows = {row["name"]: row["visitors"] for row in pages.json()["rows"]}
    return {"visitors": top["visitors"], "pageviews": top["pageviews"], "pages": rows}


def test_dashboard_answers_with_every_other_file_and_tells_the_owner(tmp_path: Path) -> None:
    server = Server(tmp_path / "data")
    sites = {kind: server.add_site(f"{kind.replace('_', '-')}.example.com") for kind in DAMAGE}
    events = server.data_dir / "events"
    written = {kind: write_day(events, site) for kind, site in sites.items()}
    day_range = f"period=custom&from={DAY}&to={DAY}"
    expected: dict[str, dict] = {}
    server.start()
    try:
        with httpx.Client(base_url=server.url, follow_redirects=True, timeout=30) as http:
            log_in(http, "owner@pagepulse.test", "owner-password")

            for kind, site in sites.items():  # read (and cached) while every file is good
                assert dashboard_numbers(http, site, day_range) == good_counts(written[kind])
            for kind in DAMAGE:
                DAMAGE[kind](written[kind][2])

            for kind, site in sites.items():
                page = http.get(f"/sites/{site}?{day_range}")
                assert page.status_code == 200, (kind, page.status_code)
                assert "1 damaged data file was set aside" in page.text, kind
                good = [p for i, p in enumerate(written[kind]) if i != 2]
                expected[kind] = good_counts(good)
                assert dashboard_numbers(http, site, day_range) == expected[kind], kind
                assert len(quarantined_copies(server.data_dir, site)) == 1, kind
            schema_page = http.get(f"/sites/{sites['wrong_schema']}?{day_range}").text
            assert "schema mismatch: column &#39;ts&#39; is string" in schema_page

        # Compaction of those partitions still succeeds, and counts the same.
        result = compact_lake(events, grace_seconds=0)
        assert (result.partitions, result.files_in) == (len(DAMAGE), 3 * len(DAMAGE))
        with httpx.Client(base_url=server.url, follow_redirects=True, timeout=30) as http:
            log_in(http, "owner@pagepulse.test", "owner-password")
            for kind, site in sites.items():
                [compacted] = live_files(partition_dir(events, site, DAY))
                assert compacted.name.startswith(COMPACTED_PREFIX)
                assert good_counts([compacted]) == expected[kind]
                assert dashboard_numbers(http, site, day_range) == expected[kind]
    finally:
        server.stop()
    assert "quarantined unreadable lake file" in server.logs()
