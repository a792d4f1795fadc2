"""A tracked website for browser tests, and accounts on a real server.

``static_site(root)`` serves a folder on another loopback port; Chromium reaches it as
``http://site.test:<port>`` through ``launch_chromium(host_rules=SITE_HOST_RULES)``,
because the tracker ignores localhost on purpose. Unknown paths answer the index page,
as a single-page app's server does, so a reload after ``pushState`` still works.

The account helpers write to the server's SQLite file directly (as ``Server.add_site``
does) for tests whose subject is not the forms themselves.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from pagepulse.control import api_keys, shares
from pagepulse.control.db import open_database, transaction
from pagepulse.control.users import create_user, get_user_by_email

SITE_HOST = "site.test"
SITE_HOST_RULES = f"MAP {SITE_HOST} 127.0.0.1"
# HeadlessChrome is dropped as a bot: visitors use an ordinary desktop Chrome.
CHROME_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "test-artifacts"


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no access log in test output
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if not path.exists():
            self.path = "/index.html"
        return super().send_head()


@contextlib.contextmanager
def static_site(root: Path) -> Iterator[str]:
    """Serve ``root`` on a free loopback port; yields ``http://site.test:<port>``."""
    handler = functools.partial(_SiteHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{SITE_HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def tracked_page(snippet: str, title: str, body: str = "") -> str:
    """An HTML page carrying the tracking snippet, as a site owner would paste it."""
    return (
        f"<!doctype html><html><head><title>{title}</title>{snippet}</head>"
        f"<body><h1>{title}</h1>{body}</body></html>"
    )


def ensure_user(data_dir: Path, email: str, password: str) -> int:
    conn = open_database(data_dir / "pagepulse.sqlite3")
    try:
        user = get_user_by_email(conn, email) or create_user(conn, email, password)
        return user.id
    finally:
        conn.close()


def new_api_keys(data_dir: Path, user_id: int, names: list[str]) -> list[str]:
    """One Stats API key per name (in one connection); returns the keys."""
    conn = open_database(data_dir / "pagepulse.sqlite3")
    try:
        with transaction(conn):
            return [api_keys.create_api_key(conn, user_id, name)[1] for name in names]
    finally:
        conn.close()


def new_share_slugs(data_dir: Path, site_id: int, names: list[str]) -> list[str]:
    """One share link per name (in one connection); returns their slugs."""
    conn = open_database(data_dir / "pagepulse.sqlite3")
    try:
        with transaction(conn):
            return [shares.create_share(conn, site_id, name).slug for name in names]
    finally:
        conn.close()


def form_fields(html: str, form: str = "main form") -> tuple[str, dict[str, str]]:
    """(action, hidden fields) of the form matched by the CSS selector ``form``."""
    node = LexborHTMLParser(html).css_first(form)
    assert node is not None, f"no {form!r} in the page"
    hidden = {
        field.attributes.get("name") or "": field.attributes.get("value") or ""
        for field in node.css("input[type=hidden]")
    }
    return node.attributes.get("action") or "", hidden


def log_in(client, email: str, password: str) -> None:
    """Log an ``httpx.Client`` (base_url = the server, following redirects) in through
    the real form, CSRF token and all."""
    page = client.get("/login")
    action, hidden = form_fields(page.text)
    response = client.post(
        action or "/login", data={**hidden, "email": email, "password": password}
    )
    assert response.status_code == 200 and response.url.path == "/sites", response.status_code
