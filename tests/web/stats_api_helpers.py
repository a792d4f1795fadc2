"""The Stats API tests' world: a user, their site with known events, and an API key.

Two days of traffic on ``example.com`` (timezone UTC), five visits by four visitors:

====  ==========  ======================  ========  =====================  =========
who   starts      pages (+ custom events)  source    country / browser      duration
====  ==========  ======================  ========  =====================  =========
v1    06-10 10:00 /                        Google    US Chrome 125 Windows  0 (bounce)
v1    06-10 11:00 /docs /pricing +Signup   (none)    US Chrome 125 Windows  180 s
v2    06-10 12:00 /blog/a /blog/b          Newsletter DE Firefox 128 Linux  300 s
v3    06-11 09:00 /blog/a +Download        (none)    FR Chrome 124 Android  60 s (bounce)
v4    06-11 15:00 / /blog/a /pricing       Google    DE Edge 125 Windows    600 s
====  ==========  ======================  ========  =====================  =========
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pagepulse.config import Settings
from pagepulse.control import api_keys, sites, users
from pagepulse.control import db as control_db
from tests.query.helpers import event, write_events

UTC = dt.UTC
DAY1 = dt.datetime(2025, 6, 10, tzinfo=UTC)
DAY2 = dt.datetime(2025, 6, 11, tzinfo=UTC)
BOTH_DAYS = ["2025-06-10", "2025-06-11"]


def at(day: dt.datetime, hour: int, minute: int = 0) -> dt.datetime:
    return day + dt.timedelta(hours=hour, minutes=minute)


def _visitor(visitor_id: int, **attributes: str):
    def make(ts: dt.datetime, pathname: str, name: str = "pageview") -> dict:
        return event(ts, visitor_id, name, pathname=pathname, hostname="example.com", **attributes)

    return make


def events() -> list[dict]:
    desktop_us = {
        "country": "US",
        "browser": "Chrome",
        "browser_version": "125",
        "os": "Windows",
        "os_version": "10",
        "device": "Desktop",
    }
    v1_google = _visitor(1, referrer_source="Google", referrer="google.com", **desktop_us)
    v1_direct = _visitor(1, **desktop_us)
    v2 = _visitor(
        2,
        referrer_source="Newsletter",
        referrer="news.example.com",
        utm_source="newsletter",
        utm_medium="email",
        utm_campaign="june",
        country="DE",
        browser="Firefox",
        browser_version="128",
        os="Linux",
        device="Desktop",
    )
    v3 = _visitor(
        3,
        country="FR",
        browser="Chrome",
        browser_version="124",
        os="Android",
        os_version="14",
        device="Mobile",
    )
    v4 = _visitor(
        4,
        referrer_source="Google",
        referrer="google.com",
        country="DE",
        browser="Edge",
        browser_version="125",
        os="Windows",
        os_version="11",
        device="Desktop",
    )
    return [
        v1_google(at(DAY1, 10), "/"),
        v1_direct(at(DAY1, 11), "/docs"),
        v1_direct(at(DAY1, 11, 2), "/pricing"),
        v1_direct(at(DAY1, 11, 3), "/pricing", "Signup"),
        v2(at(DAY1, 12), "/blog/a"),
        v2(at(DAY1, 12, 5), "/blog/b"),
        v3(at(DAY2, 9), "/blog/a"),
        v3(at(DAY2, 9, 1), "/blog/a", "Download"),
        v4(at(DAY2, 15), "/"),
        v4(at(DAY2, 15, 4), "/blog/a"),
        v4(at(DAY2, 15, 10), "/pricing"),
    ]


@dataclass
class ApiWorld:
    client: TestClient
    settings: Settings
    site: sites.Site
    key: str
    user_id: int

    def query(self, body: dict[str, Any], *, key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return self.client.post("/api/v2/query", json=body, headers=headers)

    def ok(self, **fields: Any) -> dict[str, Any]:
        """POST a query for example.com over both days (unless given); expect 200."""
        body = {"site_id": "example.com", "date_range": BOTH_DAYS, **fields}
        response = self.query(body)
        assert response.status_code == 200, response.text
        return response.json()

    def error(self, body: dict[str, Any], status: int = 400) -> str:
        response = self.query(body)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        return response.json()["error"]


def make_world(app: FastAPI, settings: Settings) -> ApiWorld:
    conn = control_db.connect(settings.db_path)
    try:
        user = users.create_user(conn, "api-owner@example.com", "correct horse battery")
        site = sites.create_site(conn, "example.com", user.id, "UTC")
        _, key = api_keys.create_api_key(conn, user.id, "tests")
    finally:
        conn.close()
    write_events(settings.events_dir, site.id, events())
    return ApiWorld(TestClient(app), settings, site, key, user.id)


def rows(answer: dict[str, Any]) -> list[tuple]:
    """Results as (dimensions..., metrics...) tuples, for compact assertions."""
    return [(*r["dimensions"], *r["metrics"]) for r in answer["results"]]
