"""The ingestion route over real HTTP against a real server process."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from tests.support.server import Server

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


# "inline": `pagepulse serve`, beacons answered inside the HTTP protocol
# (pagepulse.ingest.http); "asgi": plain uvicorn, beacons through the ASGI route.
# Every test of this server runs against both and must see the same behaviour.
@pytest.fixture(scope="module", params=["inline", "asgi"])
def server(request, tmp_path_factory):
    plain = request.param == "asgi"
    srv = Server(tmp_path_factory.mktemp("ingest") / "data", plain_uvicorn=plain)
    srv.add_site("example.com")
    srv.add_site("second.example", timezone="Asia/Tokyo")
    srv.start()
    yield srv
    srv.stop()


def post(server: Server, body, *, ua: str = CHROME, **headers) -> httpx.Response:
    content = (
        body if isinstance(body, bytes | str) else httpx.Request("POST", "/", json=body).content
    )
    return httpx.post(
        f"{server.url}/api/event",
        content=content,
        headers={"User-Agent": ua, "Content-Type": "text/plain", **headers},
    )


def test_pageview_is_stored_enriched(server):
    site = server.add_site("example.com")
    before = dt.datetime.now(dt.UTC)
    response = post(
        server,
        {
            "n": "pageview",
            "u": "https://www.example.com/pricing?utm_source=newsletter&utm_campaign=spring#top",
            "d": "example.com",
            "r": "https://www.google.com/search?q=x",
            "w": 390,
        },
        ua=IPHONE,
    )
    assert response.status_code == 202
    assert response.headers["access-control-allow-origin"] == "*"
    assert "x-pagepulse-dropped" not in response.headers
    rows = server.wait_for_events(site, 1)
    [row] = server.events(site, "ts, visitor_id, name, hostname, pathname, referrer, "
                          "referrer_source, utm_source, utm_campaign, browser, os, os_version, "
                          "device, screen_width, props")  # fmt: skip
    assert len(rows) == 1
    ts, visitor, *rest = row
    # utm_source wins over the referrer as the source, as in Plausible.
    assert before - dt.timedelta(seconds=1) <= ts <= dt.datetime.now(dt.UTC)
    assert visitor > 0
    assert rest == [
        "pageview", "example.com", "/pricing", "google.com/search", "newsletter",
        "newsletter", "spring", "Safari", "iOS", "17.5", "mobile", 390, {},
    ]  # fmt: skip


def test_custom_event_with_props_and_several_domains(server):
    first, second = server.add_site("example.com"), server.add_site("second.example")
    before = len(server.events(first))
    body = {
        "name": "Signup",
        "url": "https://example.com/join",
        "domain": "example.com,second.example",
        "props": {"plan": "pro", "seats": 3, "nested": {"dropped": True}},
    }
    assert post(server, body).status_code == 202
    server.wait_for_events(second, 1)
    rows = server.events(second, "name, props")
    assert rows == [("Signup", {"plan": "pro", "seats": "3"})]
    assert len(server.wait_for_events(first, before + 1)) == before + 1


def test_bots_and_unknown_domains_are_dropped_with_a_header(server):
    googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    body = {"n": "pageview", "u": "https://example.com/", "d": "example.com"}
    bot = post(server, body, ua=googlebot)
    assert (bot.status_code, bot.headers.get("x-pagepulse-dropped")) == (202, "1")
    unknown = post(server, {"n": "pageview", "u": "https://nope.test/", "d": "nope.test"})
    assert (unknown.status_code, unknown.headers.get("x-pagepulse-dropped")) == (202, "1")


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{not json", 400, "body: must be a JSON object"),
        ({"n": "pageview", "d": "example.com"}, 400, "u: url is required"),
        ({"n": "pageview", "u": "ftp://example.com/", "d": "example.com"}, 400,
         "u: must be an absolute http(s) URL"),
        ({"n": "x" * 200, "u": "https://example.com/", "d": "example.com"}, 400,
         "n: at most 120 bytes"),
        (b"x" * 9000, 413, "body: at most 8192 bytes"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_4xx(server, body, status, error):
    response = post(server, body)
    assert response.status_code == status
    assert error in response.json()["errors"]


def test_cors_preflight_and_wrong_method(server):
    pre = httpx.options(f"{server.url}/api/v1/event", headers={"Origin": "https://example.com"})
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "*"
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert httpx.get(f"{server.url}/api/event").status_code == 405


def test_client_supplied_ip_ua_and_time_change_nothing(server):
    site = server.add_site("second.example")
    before = len(server.events(site))
    base = {"n": "pageview", "u": "https://second.example/", "d": "second.example"}
    post(server, base)
    post(server, {**base, "ip": "203.0.113.50", "user_agent": "Other/1.0",
                  "timestamp": "2001-01-01T00:00:00Z", "ts": 0})  # fmt: skip
    # X-Forwarded-For from an untrusted peer (loopback is not configured as a proxy).
    post(server, base, **{"X-Forwarded-For": "198.51.100.99"})
    rows = server.wait_for_events(site, before + 3)[before:]
    assert len(rows) == 3
    assert len({r[1] for r in rows}) == 1  # one visitor: the same connection and UA
    assert all(r[0].year >= 2026 for r in rows)


def test_forwarded_for_is_honoured_from_a_trusted_proxy(tmp_path):
    srv = Server(tmp_path / "data", env={"PAGEPULSE_TRUSTED_PROXIES": "127.0.0.0/8"})
    site = srv.add_site("example.com")
    srv.start()
    try:
        body = {"n": "pageview", "u": "https://example.com/", "d": "example.com"}
        post(srv, body, **{"X-Forwarded-For": "81.2.69.142"})
        post(srv, body, **{"X-Forwarded-For": "8.8.8.8"})
        rows = srv.wait_for_events(site, 2)
    finally:
        srv.stop()
    assert len({r[1] for r in rows}) == 2
    assert sorted(srv.events(site, "country")) == [("GB",), ("US",)]


def test_rate_limit_answers_429_with_retry_after(tmp_path):
    srv = Server(
        tmp_path / "data",
        env={"PAGEPULSE_RATE_LIMIT_PER_SECOND": "1", "PAGEPULSE_RATE_LIMIT_BURST": "3"},
    )
    srv.add_site("example.com")
    srv.start()
    try:
        body = {"n": "pageview", "u": "https://example.com/", "d": "example.com"}
        statuses = [post(srv, body).status_code for _ in range(5)]
        limited = post(srv, body)
    finally:
        srv.stop()
    assert statuses[:3] == [202, 202, 202]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
