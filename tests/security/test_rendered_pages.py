"""Every page the logged-in owner (and a share link's visitor) can reach, as served by
the real server: security headers on each, and no inline script, style or event
handler in the HTML actually rendered (tests/web checks the template sources; this
checks their output, fragments loaded by htmx included).

The crawl starts at /sites and follows every same-origin ``href``, ``hx-get`` and GET
form action, skipping only log-out and downloads.
"""

from __future__ import annotations

from collections import deque
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser

from tests.support.server import Server
from tests.support.site import CHROME_UA, ensure_user, log_in, new_share_slugs

OWNER, PASSWORD = "owner@pagepulse.test", "owner-password"
MAX_PAGES = 120  # per crawl, breadth first: every kind of page comes early


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("crawl") / "data")
    site_id = srv.add_site("crawl.example")
    srv.add_site("empty.example")  # an empty dashboard is a page of its own
    ensure_user(srv.data_dir, OWNER, PASSWORD)
    slug = new_share_slugs(srv.data_dir, site_id, ["crawl"])[0]
    srv.start()
    try:
        with httpx.Client(base_url=srv.url) as client:
            for path in ("/", "/pricing?utm_source=news", "/blog"):
                body = {"n": "pageview", "u": f"https://crawl.example{path}", "d": "crawl.example"}
                client.post("/api/event", json=body, headers={"user-agent": CHROME_UA})
            body = {"n": "Signup", "u": "https://crawl.example/", "d": "crawl.example"}
            client.post("/api/event", json=body, headers={"user-agent": CHROME_UA})
        assert len(srv.wait_for_events(site_id, 4)) == 4
        yield srv, slug
    finally:
        srv.stop()


def links(page_url: str, html: str) -> list[str]:
    tree = LexborHTMLParser(html)
    found = [node.attributes.get("href") for node in tree.css("a[href]")]
    found += [node.attributes.get("hx-get") for node in tree.css("[hx-get]")]
    found += [
        node.attributes.get("action")
        for node in tree.css("form[action]")
        if (node.attributes.get("method") or "get").lower() == "get"
    ]
    return [urljoin(page_url, url) for url in found if url]


def crawl(client: httpx.Client, start: str) -> dict[str, httpx.Response]:
    origin = urlsplit(str(client.base_url)).netloc
    seen: dict[str, httpx.Response] = {}
    queue = deque([urljoin(str(client.base_url), start)])
    while queue and len(seen) < MAX_PAGES:
        url = queue.popleft()
        parts = urlsplit(url)
        if parts.netloc != origin or url in seen:
            continue
        if parts.path.endswith(("/export", "/logout")) or "format=csv" in parts.query:
            continue
        response = seen[url] = client.get(url)
        if "/widget" in parts.path:  # what htmx swaps in: the card fragment
            seen[url + " (htmx)"] = client.get(url, headers={"HX-Request": "true"})
        if "text/html" in response.headers.get("content-type", ""):
            queue.extend(u.split("#")[0] for u in links(url, response.text))
    return seen


def check_headers(url: str, response: httpx.Response) -> None:
    csp = response.headers.get("content-security-policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    script_src = directives.get("script-src", directives.get("default-src"))
    assert script_src == ["'self'"], (url, csp)
    assert directives.get("style-src") == ["'self'"], (url, csp)
    assert directives.get("frame-ancestors") == ["'none'"], (url, csp)
    assert directives.get("base-uri") == ["'self'"], (url, csp)
    assert response.headers.get("x-content-type-options") == "nosniff", url
    assert response.headers.get("referrer-policy") == "strict-origin-when-cross-origin", url
    assert response.headers.get("x-frame-options") == "DENY", url


def check_markup(url: str, html: str) -> None:
    tree = LexborHTMLParser(html)
    for script in tree.css("script"):
        assert script.attributes.get("src", "").startswith("/static/"), (url, script.html)
    assert tree.css("style") == [], url
    for node in tree.css("*"):
        for name in node.attributes:
            assert name != "style", (url, node.html[:200])
            assert not name.startswith("on"), (url, node.html[:200])
            assert not name.startswith("hx-on"), (url, node.html[:200])


def test_every_page_has_the_headers_and_no_inline_code(server) -> None:
    srv, slug = server
    with httpx.Client(base_url=srv.url, follow_redirects=True, timeout=30) as client:
        log_in(client, OWNER, PASSWORD)
        pages = crawl(client, "/sites")
        with httpx.Client(base_url=srv.url, follow_redirects=True, timeout=30) as anonymous:
            pages |= crawl(anonymous, f"/share/{slug}")
            pages |= crawl(anonymous, "/login")
    html = {url: r for url, r in pages.items() if "text/html" in r.headers["content-type"]}
    paths = {urlsplit(url.split(" ")[0]).path for url in html}
    # The crawl reached every kind of page.
    for expected in (
        "/sites",
        "/sites/1",
        "/sites/1/widget",
        "/sites/1/settings",
        "/sites/1/snippet",
        "/sites/1/shares",
        "/sites/1/delete",
        "/sites/2",
        "/sites/new",
        "/account",
        "/account/api-keys",
        f"/share/{slug}",
        f"/share/{slug}/widget",
        "/login",
        "/register",
    ):
        assert expected in paths, expected
    assert len(html) > 100
    for url, response in html.items():
        assert response.status_code == 200, (url, response.status_code)
        check_headers(url, response)
        check_markup(url, response.text)


def test_api_docs_are_not_served_by_default(server) -> None:
    srv, _slug = server
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
        response = httpx.get(f"{srv.url}{path}")
        assert response.status_code == 404, path
        assert "openapi" not in response.text.lower(), path
