"""The running server re-checks custom domains by itself: a pending claim is verified once
its record appears, and a verified domain whose record is gone keeps being served through
the grace period, then is unverified and no longer served (re-checks every 0.5 s and a
2 s grace here, hours and days by default)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import httpx
import pytest

from pagepulse.config import Settings
from pagepulse.control import custom_domains, shares
from pagepulse.control.custom_domains import CustomDomain
from tests.domains.helpers import (
    TARGET,
    database,
    domain_settings,
    get_on_host,
    server_env,
    site,
    tls_ask,
    verified_claim,
)
from tests.support.dns import DnsTestServer, dns_server
from tests.support.passwords import cheap_password_hashing
from tests.support.server import Server

GRACE = 2.0
T = TypeVar("T")


@dataclass
class World:
    server: Server
    dns: DnsTestServer
    settings: Settings
    pending: CustomDomain
    verified: CustomDomain
    verified_share: str

    def claim(self, site_id: int) -> CustomDomain:
        with database(self.settings) as conn:
            found = custom_domains.get_domain(conn, site_id)
        assert found is not None
        return found

    def get(self, path: str, host: str, **kwargs) -> httpx.Response:
        return get_on_host(self.server, path, host, **kwargs)

    def ask(self, domain: str) -> int:
        return tls_ask(self.server, domain)


def wait_until(probe: Callable[[], T], done: Callable[[T], bool], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    value = probe()
    while not done(value):
        assert time.monotonic() < deadline, f"still {value!r} after {timeout} s"
        time.sleep(0.1)
        value = probe()
    return value


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("rechecks") / "data"
    with dns_server() as dns, cheap_password_hashing():
        extra = {"custom_domain_recheck_seconds": 0.5, "custom_domain_grace_seconds": GRACE}
        settings = domain_settings(data_dir, dns.address, **extra)
        with database(settings) as conn:
            pending = custom_domains.add_domain(
                conn, settings, site(conn, "later.example"), "stats.later.example"
            )
            verified_site = site(conn, "gone.example")
            verified = verified_claim(conn, settings, dns, verified_site, "stats.gone.example")
            slug = shares.create_share(conn, verified_site, "public").slug
        env = server_env(
            dns.address,
            PAGEPULSE_CUSTOM_DOMAIN_RECHECK_SECONDS="0.5",
            PAGEPULSE_CUSTOM_DOMAIN_GRACE_SECONDS=str(GRACE),
        )
        server = Server(data_dir, workers=2, env=env).start(timeout=90)
        try:
            yield World(server, dns, settings, pending, verified, slug)
        finally:
            server.stop()


def test_a_pending_claim_is_verified_once_its_record_appears(world: World) -> None:
    site_id = world.pending.site_id
    checked = wait_until(lambda: world.claim(site_id), lambda d: d.last_checked_at, 10)
    assert not checked.verified and "NXDOMAIN" in (checked.last_error or "")
    world.dns.records["stats.later.example"] = {"CNAME": [TARGET]}
    verified = wait_until(lambda: world.claim(site_id), lambda d: d.verified, 10)
    assert verified.verified_by == "cname" and verified.last_error is None
    assert world.ask("stats.later.example") == 200


def test_a_domain_whose_record_is_gone_is_unverified_after_the_grace(world: World) -> None:
    site_id, host, share = world.verified.site_id, "stats.gone.example", world.verified_share
    assert world.get(f"/share/{share}", host).status_code == 200
    del world.dns.records[world.verified.txt_name]

    failing = wait_until(lambda: world.claim(site_id), lambda d: d.failing_since, 10)
    assert failing.verified
    if time.time() - failing.failing_since < GRACE - 0.5:  # type: ignore[operator]
        # Still within the grace: still served, with its certificate.
        assert world.ask(host) == 200
        assert world.get(f"/share/{share}", host).status_code == 200

    gone = wait_until(lambda: world.claim(site_id), lambda d: not d.verified, GRACE + 10)
    assert gone.verified_at is None and gone.failing_since is None
    assert (gone.last_error or "").startswith("Unverified: the record has been missing since")
    assert gone.last_checked_at - failing.failing_since >= GRACE  # type: ignore[operator]
    assert world.ask(host) == 404
    # Both workers drop it from their host maps within a few seconds.
    for _ in range(4):
        wait_until(lambda: world.get(f"/share/{share}", host).status_code, lambda s: s == 404, 10)


def test_each_due_check_is_made_by_one_worker(world: World) -> None:
    """Two workers, one DNS question per claim per round (the claim is taken atomically)."""
    world.dns.records["stats.later.example"] = {"CNAME": [TARGET]}
    before = len(world.dns.queries)
    time.sleep(3.0)
    asked = world.dns.queries[before:]
    rounds = [q for q in asked if q == ("_pagepulse.stats.later.example", "TXT")]
    # A round starts at most every 0.5 s, whichever worker takes it: at most 7 in 3 s.
    # Were the claim not atomic, both workers would often ask in the same round.
    assert 2 <= len(rounds) <= 7, rounds
