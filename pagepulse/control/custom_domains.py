"""Custom domains: a host a site controls (``stats.example.com``) that then serves its
tracker, its ingestion route and its public share dashboards, first-party for visitors.

The rules, in one place (README "Custom domains" tells operators the same):

- Claiming: a site has at most one custom domain. The host must be a full DNS name
  (no IP address, no ``localhost``, not PagePulse's own host or CNAME target, nor a
  name under them) and not verified by another site. Several sites may *claim* the
  same host, so nobody can squat a name by claiming it first; only one can verify it.
- Verifying: a TXT record ``pagepulse-verification=<token>`` (the claim's own token)
  at ``_pagepulse.<host>`` or ``<host>``, or a CNAME from the host to the target
  (``PAGEPULSE_CUSTOM_DOMAIN_TARGET``, default the host of ``PAGEPULSE_BASE_URL``).
  A CNAME proves the host points here, not whose it is: while another site claims the
  same host, only the TXT record counts.
- Re-checking: the server re-checks every claim each
  ``PAGEPULSE_CUSTOM_DOMAIN_RECHECK_SECONDS`` (the button checks at once). A pending
  claim becomes verified as soon as its record appears. A verified domain whose record
  is gone (the DNS answered, and neither record is there) stays verified for
  ``PAGEPULSE_CUSTOM_DOMAIN_GRACE_SECONDS`` from the first such answer, so a botched
  DNS edit does not break a site's tracking at once; a check past that unverifies it.
  A check the DNS did not answer (timeout, SERVFAIL) neither starts nor stops that clock.
- Serving (``served_hosts``): a verified host whose site's owner has the
  ``custom_domains`` feature (always, in selfhosted mode) serves that site; a claimed
  host that is not (yet) served only serves the tracker and the ingestion route, which
  every host serves.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import dns.resolver

from pagepulse.config import Settings
from pagepulse.control import domain_dns, plans

FEATURE = "custom_domains"
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+$")
_TOP_LABEL = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


@dataclass(frozen=True, slots=True)
class CustomDomain:
    id: int
    site_id: int
    hostname: str
    verification_token: str
    verified_at: float | None
    verified_by: str | None
    last_checked_at: float | None
    last_error: str | None
    failing_since: float | None
    created_at: str

    @property
    def verified(self) -> bool:
        return self.verified_at is not None

    @property
    def txt_name(self) -> str:
        return f"{domain_dns.TXT_LABEL}.{self.hostname}"

    @property
    def txt_value(self) -> str:
        return f"{domain_dns.TXT_PREFIX}{self.verification_token}"


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """One DNS check of one claim: passed (with the record that proved it), or why not."""

    method: domain_dns.Method | None
    error: str | None = None
    definitive: bool = True  # False when the DNS did not answer

    @property
    def passed(self) -> bool:
        return self.method is not None


class InvalidHostname(ValueError):
    """The message is shown to the user as it is."""


class HostnameTaken(Exception):
    """Another site has this host verified."""


class SiteHasDomain(Exception):
    """The site already has a custom domain: remove it first."""


def _from_row(row: sqlite3.Row) -> CustomDomain:
    return CustomDomain(
        id=row["id"],
        site_id=row["site_id"],
        hostname=row["hostname"],
        verification_token=row["verification_token"],
        verified_at=row["verified_at"],
        verified_by=row["verified_by"],
        last_checked_at=row["last_checked_at"],
        last_error=row["last_error"],
        failing_since=row["failing_since"],
        created_at=row["created_at"],
    )


# Hosts ------------------------------------------------------------------------------


def main_host(settings: Settings) -> str:
    """The host of ``PAGEPULSE_BASE_URL``: where the app itself is served."""
    return (urlsplit(settings.base_url).hostname or "").lower().rstrip(".")


def cname_target(settings: Settings) -> str:
    """The host a custom domain may be a CNAME to."""
    target = settings.custom_domain_target.strip().lower().rstrip(".")
    return target or main_host(settings)


def _within(host: str, parent: str) -> bool:
    return bool(parent) and (host == parent or host.endswith("." + parent))


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def normalise_hostname(value: str, settings: Settings) -> str:
    """``https://Stats.Example.com:443/x`` -> ``stats.example.com`` (IDNA for non-ASCII);
    raises InvalidHostname with a message for the form."""
    host = value.strip().lower()
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", host)
    host = re.split(r"[/?#]", host, maxsplit=1)[0].rsplit("@", 1)[-1]
    if host.startswith("[") or _is_ip(host) or _is_ip(host.split(":", 1)[0]):
        raise InvalidHostname("Enter a host name such as stats.example.com, not an IP address.")
    host = host.split(":", 1)[0].rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidHostname(f"{value.strip()!r} is not a valid host name.") from None
    labels = host.split(".")
    if not _HOSTNAME.match(host) or not _TOP_LABEL.match(labels[-1]):
        raise InvalidHostname(
            "Enter a full host name such as stats.example.com (letters, digits and "
            "hyphens, with at least one dot)."
        )
    if _within(host, "localhost"):
        raise InvalidHostname("localhost cannot be a custom domain.")
    if _within(host, main_host(settings)) or _within(host, cname_target(settings)):
        raise InvalidHostname(
            "That is this PagePulse server's own address: enter a host of your own, "
            "such as stats.example.com."
        )
    return host


# Claims -----------------------------------------------------------------------------


def get_domain(conn: sqlite3.Connection, site_id: int) -> CustomDomain | None:
    row = conn.execute("SELECT * FROM custom_domains WHERE site_id = ?", (site_id,)).fetchone()
    return _from_row(row) if row else None


def get_domain_by_id(conn: sqlite3.Connection, domain_id: int) -> CustomDomain | None:
    row = conn.execute("SELECT * FROM custom_domains WHERE id = ?", (domain_id,)).fetchone()
    return _from_row(row) if row else None


def verified_elsewhere(conn: sqlite3.Connection, hostname: str, site_id: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM custom_domains WHERE hostname = ? AND site_id != ? "
        "AND verified_at IS NOT NULL",
        (hostname, site_id),
    ).fetchone()
    return row is not None


def add_domain(
    conn: sqlite3.Connection, settings: Settings, site_id: int, hostname: str
) -> CustomDomain:
    """Claim ``hostname`` for the site (pending until a check passes)."""
    host = normalise_hostname(hostname, settings)
    if get_domain(conn, site_id) is not None:
        raise SiteHasDomain(site_id)
    if verified_elsewhere(conn, host, site_id):
        raise HostnameTaken(host)
    try:
        row = conn.execute(
            "INSERT INTO custom_domains (site_id, hostname, verification_token) "
            "VALUES (?, ?, ?) RETURNING *",
            (site_id, host, secrets.token_hex(16)),
        ).fetchone()
    except sqlite3.IntegrityError as exc:  # a concurrent claim by the same site
        raise SiteHasDomain(site_id) from exc
    return _from_row(row)


def remove_domain(conn: sqlite3.Connection, site_id: int) -> bool:
    cur = conn.execute("DELETE FROM custom_domains WHERE site_id = ?", (site_id,))
    return cur.rowcount > 0


def _other_claims(conn: sqlite3.Connection, domain: CustomDomain) -> bool:
    row = conn.execute(
        "SELECT 1 FROM custom_domains WHERE hostname = ? AND id != ?",
        (domain.hostname, domain.id),
    ).fetchone()
    return row is not None


# Checks -----------------------------------------------------------------------------


def check_dns(
    conn: sqlite3.Connection,
    settings: Settings,
    domain: CustomDomain,
    resolver: dns.resolver.Resolver | None = None,
) -> CheckOutcome:
    """Ask the DNS whether the claim is proven (no database writes; blocking)."""
    resolver = resolver or domain_dns.make_resolver(settings)
    target = cname_target(settings)
    evidence = domain_dns.lookup(resolver, domain.hostname, domain.verification_token, target)
    if evidence.method == "cname" and _other_claims(conn, domain):
        return CheckOutcome(
            None,
            f"{domain.hostname} is a CNAME to {target}, but another site claims it too: a "
            f"CNAME shows the host points here, not whose it is. Add the TXT record "
            f"{domain.txt_name} to prove it is yours.",
        )
    if evidence.method is not None:
        return CheckOutcome(evidence.method)
    error = domain_dns.describe_failure(domain.hostname, evidence, target)
    return CheckOutcome(None, error, definitive=evidence.unreachable is None)


def record_check(
    conn: sqlite3.Connection,
    settings: Settings,
    domain: CustomDomain,
    outcome: CheckOutcome,
    now: float,
) -> CustomDomain:
    """Apply one check's outcome to the claim, with the grace rule for verified hosts."""
    if outcome.passed:
        try:
            row = conn.execute(
                "UPDATE custom_domains SET verified_at = coalesce(verified_at, ?), "
                "verified_by = ?, last_checked_at = ?, last_error = NULL, failing_since = NULL "
                "WHERE id = ? RETURNING *",
                (now, outcome.method, now, domain.id),
            ).fetchone()
        except sqlite3.IntegrityError:  # another site verified the host in the meantime
            outcome = CheckOutcome(None, f"{domain.hostname} is verified by another site.")
        else:
            return _from_row(row) if row else domain
    failing_since = domain.failing_since
    if domain.verified and outcome.definitive:
        failing_since = failing_since if failing_since is not None else now
    error = outcome.error
    expired = (
        domain.verified
        and outcome.definitive
        and failing_since is not None
        and now - failing_since >= settings.custom_domain_grace_seconds
    )
    if expired:
        row = conn.execute(
            "UPDATE custom_domains SET verified_at = NULL, verified_by = NULL, "
            "failing_since = NULL, last_checked_at = ?, last_error = ? WHERE id = ? RETURNING *",
            (
                now,
                f"Unverified: the record has been missing since {_utc(failing_since)}. {error}",
                domain.id,
            ),
        ).fetchone()
    else:
        row = conn.execute(
            "UPDATE custom_domains SET failing_since = ?, last_checked_at = ?, last_error = ? "
            "WHERE id = ? RETURNING *",
            (failing_since, now, error, domain.id),
        ).fetchone()
    return _from_row(row) if row else domain


def verify(
    conn: sqlite3.Connection,
    settings: Settings,
    domain: CustomDomain,
    now: float | None = None,
    resolver: dns.resolver.Resolver | None = None,
) -> CustomDomain:
    """Check the DNS now and record the outcome; returns the claim as it now stands."""
    outcome = check_dns(conn, settings, domain, resolver)
    return record_check(conn, settings, domain, outcome, time.time() if now is None else now)


def claim_next_due(conn: sqlite3.Connection, now: float, interval: float) -> CustomDomain | None:
    """The claim whose re-check is most overdue, marked as checked ``now`` by this caller
    only (one UPDATE, so with several workers exactly one takes it); None when none is due."""
    row = conn.execute(
        "UPDATE custom_domains SET last_checked_at = ?1 WHERE id = ("
        "  SELECT id FROM custom_domains WHERE coalesce(last_checked_at, 0) <= ?2"
        "  ORDER BY coalesce(last_checked_at, 0), id LIMIT 1"
        ") RETURNING *",
        (now, now - interval),
    ).fetchone()
    return _from_row(row) if row else None


def recheck_due(
    conn: sqlite3.Connection,
    settings: Settings,
    now: float,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Re-check the claims that are due, one at a time, until none is or ``should_stop()``
    (the server stopping); returns how many were checked."""
    resolver = domain_dns.make_resolver(settings)
    checked = 0
    while not should_stop():
        domain = claim_next_due(conn, now, settings.custom_domain_recheck_seconds)
        if domain is None:
            break
        verify(conn, settings, domain, now, resolver)
        checked += 1
    return checked


# Serving ----------------------------------------------------------------------------


def served_hosts(
    conn: sqlite3.Connection, settings: Settings, hostname: str | None = None
) -> dict[str, int | None]:
    """Every claimed host (or just ``hostname``) -> the site it serves, or None while it
    serves none (pending, or the owner's plan lacks custom domains)."""
    rows = conn.execute(
        "SELECT d.hostname, d.site_id, d.verified_at, s.owner_id "
        "FROM custom_domains d JOIN sites s ON s.id = d.site_id "
        "WHERE ?1 IS NULL OR d.hostname = ?1",
        (hostname,),
    ).fetchall()
    allowed: dict[int, bool] = {}
    routes: dict[str, int | None] = {}
    for row in rows:
        owner = row["owner_id"]
        if owner not in allowed:
            allowed[owner] = plans.feature_enabled(settings, conn, owner, FEATURE)
        if row["verified_at"] is not None and allowed[owner]:
            routes[row["hostname"]] = row["site_id"]
        else:
            routes.setdefault(row["hostname"], None)
    return routes


def served_host_of_site(
    conn: sqlite3.Connection, settings: Settings, site_id: int, owner_id: int
) -> str | None:
    """The site's custom host when it is served, else None."""
    domain = get_domain(conn, site_id)
    if domain is None or not domain.verified:
        return None
    return domain.hostname if plans.feature_enabled(settings, conn, owner_id, FEATURE) else None


def public_base_url(
    conn: sqlite3.Connection, settings: Settings, site_id: int, owner_id: int
) -> str:
    """Where the site's visitors reach PagePulse: its custom host once served, with the
    scheme of ``PAGEPULSE_BASE_URL``; else ``PAGEPULSE_BASE_URL``."""
    host = served_host_of_site(conn, settings, site_id, owner_id)
    if host is None:
        return settings.base_url.rstrip("/")
    return f"{urlsplit(settings.base_url).scheme}://{host}"


def tls_allowed(conn: sqlite3.Connection, settings: Settings, hostname: str) -> bool:
    """Whether a reverse proxy may get a certificate for ``hostname`` (the ``ask``)."""
    host = hostname.strip().lower().rstrip(".")
    if host and host == main_host(settings):
        return True
    return served_hosts(conn, settings, host).get(host) is not None


def _utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))
