"""The demo account: a user, a site and 30 days of generated traffic, made once.

``ensure_demo(settings)`` is what ``pagepulse demo`` runs; calling it again creates
nothing. The rows and the events are made inside one SQLite write transaction, so a
crash midway leaves no half-made demo behind (leftover files of an unfinished attempt
are cleared before writing).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pagepulse.config import Settings
from pagepulse.control.db import open_database, transaction
from pagepulse.control.sites import create_site, get_site_by_domain
from pagepulse.control.users import create_user, get_user_by_email
from pagepulse.demo.generator import SiteSpec, generate, write_lake
from pagepulse.lake.retention import delete_site_events

DEMO_EMAIL = "demo@pagepulse.local"
DEMO_PASSWORD = "pagepulse-demo"
DEMO_DOMAIN = "demo.pagepulse.test"
DEMO_TIMEZONE = "Europe/Berlin"
DEMO_DAYS = 30
DEMO_DAILY_VISITORS = 4000


@dataclass(frozen=True, slots=True)
class DemoInfo:
    email: str
    password: str
    site_id: int
    domain: str
    created: bool


def ensure_demo(settings: Settings, *, seed: int = 0) -> DemoInfo:
    """The demo user and site, creating them with traffic up to now if missing."""
    conn = open_database(settings.db_path)
    try:
        with transaction(conn):
            created = False
            user = get_user_by_email(conn, DEMO_EMAIL)
            if user is None:
                user = create_user(conn, DEMO_EMAIL, DEMO_PASSWORD)
                created = True
            site = get_site_by_domain(conn, DEMO_DOMAIN)
            if site is None:
                site = create_site(conn, DEMO_DOMAIN, user.id, DEMO_TIMEZONE)
                # SQLite may hand out the id of a deleted site: its events must not count.
                delete_site_events(settings.events_dir, site.id)
                spec = SiteSpec(site.id, site.domain, site.timezone, DEMO_DAILY_VISITORS)
                write_demo_traffic(settings, spec, seed=seed)
                created = True
    finally:
        conn.close()
    return DemoInfo(DEMO_EMAIL, DEMO_PASSWORD, site.id, site.domain, created)


def write_demo_traffic(settings: Settings, spec: SiteSpec, *, seed: int = 0) -> int:
    """The last ``DEMO_DAYS`` local days of the site up to now; returns the event count."""
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(ZoneInfo(spec.timezone)).date()
    start = today - dt.timedelta(days=DEMO_DAYS - 1)
    cutoff = pa.scalar(now, pa.timestamp("us", tz="UTC"))
    past = (
        (site_id, day, table.filter(pc.less_equal(table["ts"], cutoff)))
        for site_id, day, table in generate([spec], start, DEMO_DAYS, seed)
    )
    files = write_lake(settings.events_dir, past)
    return sum(pq.ParquetFile(path).metadata.num_rows for path in files)
