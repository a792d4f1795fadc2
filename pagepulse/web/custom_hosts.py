"""Serving sites' custom domains: which paths a custom Host may reach, and keeping
their verification fresh.

``CustomHostsMiddleware`` looks at each web request's Host. A host nobody claimed
(PagePulse's own host, ``127.0.0.1``, a proxy's internal name) reaches the whole app
as before. A claimed host reaches only:

- the tracker (``/js/script.js``, ``/js/p.js``), which every host serves; the
  ingestion routes are answered before the web app (``pagepulse.asgi``), on any Host,
  and attribute events by the payload's domain as always;
- when the host is verified and served (``custom_domains.served_hosts``): the share
  dashboards of *its* site (``/share/…``; ``routes/share.py`` asks
  :func:`may_serve_site` so another site's slug is a 404) and ``/static/…`` they need.

Everything else on a claimed host is a plain 404: no log-in pages, no other site.
The host map is read from SQLite at most every ``HOST_MAP_TTL`` seconds per worker and
at once after this worker changed a domain (``HostMap.invalidate``); other workers see
a change within the TTL.

``rechecking(settings)`` is the server's lifespan hook that re-checks due claims.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from pagepulse.config import Settings
from pagepulse.control import custom_domains, domain_dns
from pagepulse.control import db as control_db
from pagepulse.web.background import periodic

log = logging.getLogger("pagepulse.custom_domains")

HOST_MAP_TTL = 5.0
STATE_KEY = "custom_host"
TRACKER_PATHS = frozenset({"/js/script.js", "/js/p.js", "/api/event", "/api/v1/event"})
SITE_PREFIXES = ("/share/", "/static/")
_NOT_FOUND = b"Not found"


@dataclass(frozen=True, slots=True)
class CustomHost:
    """A request on a claimed host; ``site_id`` is None while the host serves no site."""

    hostname: str
    site_id: int | None


def request_host(scope: Scope) -> str:
    """The Host header's name: lower case, without port or trailing dot."""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1").strip().lower()
            break
    else:
        return ""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0].rstrip(".") if host.count(":") == 1 else host.rstrip(".")


class HostMap:
    """Claimed host -> served site id (or None), cached for ``ttl`` seconds."""

    def __init__(self, settings: Settings, ttl: float = HOST_MAP_TTL) -> None:
        self.settings = settings
        self.ttl = ttl
        self._routes: dict[str, int | None] = {}
        self._loaded_at = float("-inf")

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    def routes(self) -> dict[str, int | None]:
        now = time.monotonic()
        if now - self._loaded_at >= self.ttl:
            try:
                conn = control_db.connect(self.settings.db_path)
                try:
                    self._routes = custom_domains.served_hosts(conn, self.settings)
                finally:
                    conn.close()
            except Exception:
                # Keep the last good map: a locked or briefly unreadable database must
                # not open the whole app on custom hosts, nor close it on ours.
                log.exception("could not read the custom domains; keeping the last map")
            self._loaded_at = now
        return self._routes


def allowed(path: str, site_id: int | None) -> bool:
    if path in TRACKER_PATHS:
        return True
    return site_id is not None and path.startswith(SITE_PREFIXES)


class CustomHostsMiddleware:
    def __init__(self, app: ASGIApp, hosts: HostMap) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hostname = request_host(scope)
        routes = self.hosts.routes()
        if hostname not in routes:
            await self.app(scope, receive, send)
            return
        site_id = routes[hostname]
        if not allowed(scope["path"], site_id):
            await _not_found(send)
            return
        scope.setdefault("state", {})[STATE_KEY] = CustomHost(hostname, site_id)
        await self.app(scope, receive, send)


async def _not_found(send: Send) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(_NOT_FOUND)).encode()),
    ]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": _NOT_FOUND})


def custom_host(request: Request) -> CustomHost | None:
    """The claimed host this request came in on, or None on PagePulse's own host."""
    return request.scope.get("state", {}).get(STATE_KEY)


def may_serve_site(request: Request, site_id: int) -> bool:
    """Whether this request's host may show pages of ``site_id``."""
    host = custom_host(request)
    return host is None or host.site_id == site_id


# Re-checks --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def rechecking(settings: Settings) -> AsyncIterator[None]:
    """Re-check due custom domains in the background while the server runs (each
    worker runs this; ``claim_next_due`` hands each claim to one of them)."""
    domain_dns.make_resolver(settings)  # a bad PAGEPULSE_DNS_NAMESERVER fails the start
    stopping = threading.Event()  # ends a round between two checks at shutdown
    pause = max(0.2, min(60.0, settings.custom_domain_recheck_seconds / 2))
    job = functools.partial(_recheck_once, settings, stopping.is_set)
    async with periodic("pagepulse-domain-rechecks", pause, job, stopping=stopping):
        yield


def _recheck_once(settings: Settings, should_stop: Callable[[], bool]) -> None:
    conn = control_db.connect(settings.db_path)
    try:
        custom_domains.recheck_due(conn, settings, time.time(), should_stop)
    finally:
        conn.close()
