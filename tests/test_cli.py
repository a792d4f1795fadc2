"""The ``pagepulse`` command against a real data dir."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pagepulse.cli import app
from pagepulse.config import Settings


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGEPULSE_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input)

    return run


def test_users_and_sites(cli):
    created = cli("user", "add", "ann@example.com", input="a-long-password\n")
    assert created.exit_code == 0, created.output
    assert "ann@example.com" in created.output
    assert cli("user", "add", "ann@example.com", input="another-password\n").exit_code != 0
    assert cli("user", "add", "bob@example.com", input="short\n").exit_code != 0

    site = cli("site", "add", "https://www.Example.com/", "--owner", "ann@example.com",
               "--timezone", "Europe/Berlin")  # fmt: skip
    assert site.exit_code == 0, site.output
    site_id = int(site.output.strip())
    bad_tz = cli("site", "add", "other.com", "--owner", "ann@example.com", "--timezone", "Mars/X")
    assert bad_tz.exit_code != 0 and "unknown timezone" in bad_tz.output
    assert cli("site", "add", "x.com", "--owner", "nobody@example.com").exit_code != 0

    listing = cli("site", "list")
    assert listing.exit_code == 0
    assert listing.output.split() == [str(site_id), "example.com", "Europe/Berlin",
                                      "ann@example.com"]  # fmt: skip


def test_import_a_parquet_file(cli, tmp_path):
    cli("user", "add", "ann@example.com", input="a-long-password\n")
    site_id = int(cli("site", "add", "example.com", "--owner", "ann@example.com").output)
    start = dt.datetime(2026, 1, 1, 23, 0, tzinfo=dt.UTC)
    table = pa.table(
        {
            "ts": pa.array(
                [start + dt.timedelta(hours=i) for i in range(4)], pa.timestamp("us", "UTC")
            ),
            "visitor_id": pa.array([1, 1, 2, 3], pa.uint64()),
            "name": ["pageview"] * 4,
            "pathname": ["/", "/a", "/", "/b"],
        }
    )
    source = tmp_path / "old.parquet"
    pq.write_table(table, source)
    result = cli("import", "--site", str(site_id), str(source))
    assert result.exit_code == 0, result.output
    assert "imported 4 events into 2 partitions" in result.output
    events = Settings().events_dir / f"site_id={site_id}"
    with duckdb.connect() as conn:
        rows = conn.execute(
            "SELECT date::VARCHAR, count(*) FROM read_parquet($glob, hive_partitioning = true) "
            "GROUP BY ALL ORDER BY 1",
            {"glob": f"{events}/*/*.parquet"},
        ).fetchall()
    assert rows == [("2026-01-01", 1), ("2026-01-02", 3)]
    assert cli("import", "--site", "999", str(source)).exit_code != 0


def test_secret_key_is_generated_once_and_kept(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    key = settings.secret
    assert len(key) >= 32
    assert Settings(data_dir=tmp_path / "data").secret == key
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert Settings(data_dir=tmp_path / "data", secret_key="explicit").secret == "explicit"
