"""ensure_demo: a user, a site and recent traffic, made once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from pagepulse.config import Settings
from pagepulse.control.db import open_database
from pagepulse.control.sites import get_site
from pagepulse.control.users import authenticate
from pagepulse.demo.setup import DEMO_DOMAIN, DEMO_EMAIL, DEMO_PASSWORD, ensure_demo


def test_ensure_demo_creates_once(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)

    first = ensure_demo(settings)
    files = sorted(settings.events_dir.rglob("*.parquet"))
    second = ensure_demo(settings)

    assert first.created and not second.created
    assert (first.email, first.password, first.domain) == (DEMO_EMAIL, DEMO_PASSWORD, DEMO_DOMAIN)
    assert second.site_id == first.site_id
    assert sorted(settings.events_dir.rglob("*.parquet")) == files

    conn = open_database(settings.db_path)
    user = authenticate(conn, DEMO_EMAIL, DEMO_PASSWORD)
    site = get_site(conn, first.site_id)
    assert user is not None and site is not None
    assert (site.owner_id, site.timezone) == (user.id, "Europe/Berlin")

    [(days, visitors_per_day, latest, hosts)] = duckdb.sql(
        f"""
        SELECT count(DISTINCT date), count(DISTINCT visitor_id) / count(DISTINCT date),
               max(ts), list(DISTINCT hostname)
        FROM read_parquet('{settings.events_dir}/site_id={first.site_id}/date=*/*.parquet',
                          hive_partitioning = true)
        """
    ).fetchall()
    assert days in (30, 31)
    assert 2500 <= visitors_per_day <= 6000
    assert latest <= dt.datetime.now(dt.UTC)
    assert hosts == [DEMO_DOMAIN]


def test_ensure_demo_clears_stale_files_of_a_reused_site_id(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    stale = settings.events_dir / "site_id=1" / "date=2020-01-01" / "old.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"not ours")

    info = ensure_demo(settings)

    assert info.site_id == 1
    assert not stale.exists()
