"""Canary: a distinctive IP and user agent go in; afterwards neither is anywhere."""

from __future__ import annotations

import ipaddress

import duckdb
import httpx

from tests.support.server import Server

CANARY_IP = "203.0.113.197"
CANARY_IPV6 = "2001:db8:5ca1:ab1e::197"
CANARY_UA = (
    "Mozilla/5.0 (X11; CanaryOS 77.1; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 CanaryToken/4242"
)


def _needles() -> list[bytes]:
    v4, v6 = ipaddress.ip_address(CANARY_IP), ipaddress.ip_address(CANARY_IPV6)
    return [
        CANARY_IP.encode(),
        CANARY_IPV6.encode(),
        v6.exploded.encode(),
        v4.packed,
        v6.packed,
        CANARY_UA.encode(),
        b"CanaryToken/4242",
    ]


def test_no_ip_or_user_agent_is_stored_logged_or_echoed(tmp_path):
    server = Server(tmp_path / "data", env={"PAGEPULSE_TRUSTED_PROXIES": "127.0.0.0/8"})
    site = server.add_site("example.com")
    server.start()
    responses: list[httpx.Response] = []
    try:
        for ip in (CANARY_IP, CANARY_IPV6):
            headers = {"User-Agent": CANARY_UA, "X-Forwarded-For": ip}
            for path in ("/", "/pricing"):
                body = {"n": "pageview", "u": f"https://example.com{path}", "d": "example.com"}
                responses.append(httpx.post(f"{server.url}/api/event", json=body, headers=headers))
            bad = httpx.post(f"{server.url}/api/event", content=b"{", headers=headers)
            responses.append(bad)
            # A login attempt from the same address (rejected: no CSRF token).
            login = httpx.post(
                f"{server.url}/login",
                data={"email": "owner@pagepulse.test", "password": "wrong"},
                headers=headers,
            )
            responses.append(login)
        assert [r.status_code for r in responses[:2]] == [202, 202]
        rows = server.wait_for_events(site, 4)
        assert len(rows) == 4
    finally:
        server.stop()

    needles = _needles()
    for response in responses:
        text = response.content + str(response.headers).encode()
        assert not [n for n in needles if n in text], response.url

    files = [p for p in server.data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files)
    for path in files:
        data = path.read_bytes()
        found = [n for n in needles if n in data]
        assert not found, f"{path.relative_to(server.data_dir)} contains {found}"

    # Parquet pages are compressed: search the decoded values too.
    parquet = [str(p) for p in files if p.suffix == ".parquet"]
    with duckdb.connect() as conn:
        values = conn.execute(
            "SELECT DISTINCT unnest([name, hostname, pathname, referrer, referrer_source, "
            "utm_source, utm_medium, utm_campaign, utm_content, utm_term, country, browser, "
            "browser_version, os, os_version, device]) FROM read_parquet($files)",
            {"files": parquet},
        ).fetchall()
    decoded = " ".join(v for (v,) in values if v)
    assert CANARY_IP not in decoded and CANARY_IPV6 not in decoded
    assert "CanaryOS" not in decoded and "CanaryToken" not in decoded

    logs = server.logs().encode()
    assert not [n for n in needles if n in logs]
