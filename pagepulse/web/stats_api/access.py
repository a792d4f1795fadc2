"""Who may ask what: the bearer key of a request, and the sites that key may read.

An unknown key and a revoked key get the same 401. A key reads the sites its user may
view (owner, admin or viewer: ``control/members.py``); a domain that does not exist and
a domain the key's user has no role on get the same 404, so the API cannot be used to
probe which domains are registered here.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

from pagepulse.config import Settings
from pagepulse.control import api_keys, members, sites
from pagepulse.web.stats_api.errors import ApiError

_CHALLENGE = {"WWW-Authenticate": "Bearer"}
MISSING_KEY = (
    "Missing API key: send it as 'Authorization: Bearer <key>' "
    "(create one under Account → API keys)"
)
INVALID_KEY = "Invalid API key: it is unknown or has been revoked"


def authenticate(
    conn: sqlite3.Connection, authorization: str | None, *, now: dt.datetime | None = None
) -> api_keys.ApiKey:
    """The key of an ``Authorization: Bearer <key>`` header, or a 401 :class:`ApiError`."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(MISSING_KEY, 401, _CHALLENGE)
    key = api_keys.authenticate(conn, token.strip(), now=now)
    if key is None:
        raise ApiError(INVALID_KEY, 401, _CHALLENGE)
    return key


def readable_site(
    settings: Settings, conn: sqlite3.Connection, key: api_keys.ApiKey, site_id: str
) -> sites.Site:
    """The site ``site_id`` (a domain) if the key's user may view it, else a 404."""
    try:
        domain = sites.normalise_domain(site_id)
    except ValueError:
        domain = None
    site = sites.get_site_by_domain(conn, domain) if domain else None
    if site is None or members.active_role(settings, conn, site, key.user_id) is None:
        message = f'no site "{site_id[:253]}" that this API key can read'
        raise ApiError.field("site_id", message, status=404)
    return site
