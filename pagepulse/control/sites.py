"""Sites: a domain, its timezone and its owner. Ownership checks start here."""

from __future__ import annotations

import re
import sqlite3
import zoneinfo
from dataclasses import dataclass

# A hostname, optionally with a path prefix is not allowed: sites are whole hosts.
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")


@dataclass(frozen=True, slots=True)
class Site:
    id: int
    domain: str
    timezone: str
    owner_id: int
    enabled: bool
    created_at: str
    retention_months: int | None = None  # keep raw events N months; None: forever


class SiteExists(Exception):
    pass


def _from_row(row: sqlite3.Row) -> Site:
    return Site(
        id=row["id"],
        domain=row["domain"],
        timezone=row["timezone"],
        owner_id=row["owner_id"],
        enabled=bool(row["enabled"]),
        created_at=row["created_at"],
        retention_months=row["retention_months"],
    )


def normalise_domain(domain: str) -> str:
    """``https://www.Example.com/x`` -> ``example.com``; raises ValueError when not a host."""
    value = domain.strip().lower()
    value = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value)
    value = value.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    value, _, port = value.rsplit("@", 1)[-1].partition(":")
    if port and not port.isdigit():  # "javascript:alert(1)" is not host "javascript"
        raise ValueError("enter a domain such as example.com")
    value = value.rstrip(".")
    value = value.removeprefix("www.")
    if not _DOMAIN.match(value):
        raise ValueError("enter a domain such as example.com")
    return value


def validate_timezone(name: str) -> str:
    name = name.strip()
    if name not in zoneinfo.available_timezones() and name != "UTC":
        raise ValueError(f"unknown timezone {name!r}")
    return name


def create_site(
    conn: sqlite3.Connection, domain: str, owner_id: int, timezone: str = "UTC"
) -> Site:
    domain = normalise_domain(domain)
    timezone = validate_timezone(timezone)
    try:
        cur = conn.execute(
            "INSERT INTO sites (domain, timezone, owner_id) VALUES (?, ?, ?) RETURNING *",
            (domain, timezone, owner_id),
        )
    except sqlite3.IntegrityError as exc:
        raise SiteExists(domain) from exc
    return _from_row(cur.fetchone())


def get_site(conn: sqlite3.Connection, site_id: int) -> Site | None:
    row = conn.execute("SELECT * FROM sites WHERE id = ?", (site_id,)).fetchone()
    return _from_row(row) if row else None


def get_owned_site(conn: sqlite3.Connection, site_id: int, owner_id: int) -> Site | None:
    """The site if ``owner_id`` owns it, else None (routes answer 404 either way)."""
    row = conn.execute(
        "SELECT * FROM sites WHERE id = ? AND owner_id = ?", (site_id, owner_id)
    ).fetchone()
    return _from_row(row) if row else None


def get_site_by_domain(conn: sqlite3.Connection, domain: str) -> Site | None:
    row = conn.execute("SELECT * FROM sites WHERE domain = ?", (domain,)).fetchone()
    return _from_row(row) if row else None


def list_sites(conn: sqlite3.Connection, owner_id: int | None = None) -> list[Site]:
    if owner_id is None:
        rows = conn.execute("SELECT * FROM sites ORDER BY domain").fetchall()
    else:
        rows = conn.execute(
            "SELECT * FROM sites WHERE owner_id = ? ORDER BY domain", (owner_id,)
        ).fetchall()
    return [_from_row(r) for r in rows]


def domain_map(conn: sqlite3.Connection) -> dict[str, int]:
    """Enabled domains -> site id, for the ingest path's cache."""
    rows = conn.execute("SELECT domain, id FROM sites WHERE enabled = 1").fetchall()
    return {r["domain"]: r["id"] for r in rows}


def update_site(
    conn: sqlite3.Connection, site_id: int, *, domain: str, timezone: str, enabled: bool = True
) -> Site:
    domain = normalise_domain(domain)
    timezone = validate_timezone(timezone)
    try:
        cur = conn.execute(
            "UPDATE sites SET domain = ?, timezone = ?, enabled = ? WHERE id = ? RETURNING *",
            (domain, timezone, int(enabled), site_id),
        )
    except sqlite3.IntegrityError as exc:
        raise SiteExists(domain) from exc
    return _from_row(cur.fetchone())


def delete_site_row(conn: sqlite3.Connection, site_id: int) -> None:
    """Only the row: ``pagepulse.lake.retention.delete_site`` also removes its events."""
    conn.execute("DELETE FROM sites WHERE id = ?", (site_id,))


def set_retention_months(conn: sqlite3.Connection, site_id: int, months: int | None) -> None:
    """Keep the site's raw events ``months`` months (None: forever)."""
    if months is not None and months < 1:
        raise ValueError("retention must be at least one month")
    conn.execute("UPDATE sites SET retention_months = ? WHERE id = ?", (months, site_id))


def retention_by_site(conn: sqlite3.Connection) -> dict[int, int]:
    """Site id -> months to keep, for the sites that do not keep events forever."""
    rows = conn.execute(
        "SELECT id, retention_months FROM sites WHERE retention_months IS NOT NULL"
    ).fetchall()
    return {r["id"]: r["retention_months"] for r in rows}
