"""Which hosts a site may claim, and how a typed host is cleaned up."""

from __future__ import annotations

import pytest

from pagepulse.control import custom_domains
from tests.domains.helpers import site, verified_claim


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("stats.example.com", "stats.example.com"),
        ("  Stats.Example.COM.  ", "stats.example.com"),
        ("https://stats.example.com:8443/js/script.js?x=1", "stats.example.com"),
        ("example.com", "example.com"),
        ("a-b.c-d.example.co.uk", "a-b.c-d.example.co.uk"),
        ("stats.bücher.example", "stats.xn--bcher-kva.example"),
        ("stats.example.xn--p1ai", "stats.example.xn--p1ai"),
    ],
)
def test_a_host_is_stored_in_lower_case_ascii(settings, typed: str, stored: str) -> None:
    assert custom_domains.normalise_hostname(typed, settings) == stored


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("192.0.2.7", "not an IP address"),
        ("http://192.0.2.7:8000/", "not an IP address"),
        ("[2001:db8::1]", "not an IP address"),
        ("2001:db8::1", "not an IP address"),
        ("", "full host name"),
        ("stats", "full host name"),
        ("stats_site.example.com", "full host name"),
        ("-stats.example.com", "full host name"),
        ("stats..example.com", "full host name"),
        ("stats.example.123", "full host name"),
        ("a" * 64 + ".example.com", "full host name"),
        ("stats example.com", "full host name"),
        ("localhost", "full host name"),
        ("app.localhost", "localhost cannot be a custom domain"),
        ("pagepulse.test", "this PagePulse server's own address"),
        ("eu.pagepulse.test", "this PagePulse server's own address"),
        ("pulse.test", "this PagePulse server's own address"),
        ("x.pulse.test", "this PagePulse server's own address"),
    ],
)
def test_hosts_that_cannot_be_claimed_get_a_clear_message(settings, typed, message) -> None:
    with pytest.raises(custom_domains.InvalidHostname, match=message):
        custom_domains.normalise_hostname(typed, settings)


def test_a_host_verified_by_another_site_cannot_be_claimed(conn, settings, dns) -> None:
    verified_claim(conn, settings, dns, site(conn, "example.com"), "stats.example.com")
    other = site(conn, "other.example", owner_email="someone@else.test")
    with pytest.raises(custom_domains.HostnameTaken):
        custom_domains.add_domain(conn, settings, other, "STATS.example.com")
    assert custom_domains.get_domain(conn, other) is None


def test_a_pending_claim_does_not_block_another_site(conn, settings) -> None:
    first = custom_domains.add_domain(conn, settings, site(conn, "a.example"), "stats.shared.test")
    second_site = site(conn, "b.example", owner_email="b@example.test")
    second = custom_domains.add_domain(conn, settings, second_site, "stats.shared.test")
    assert first.hostname == second.hostname
    assert first.verification_token != second.verification_token
    # Claimed but unverified: the host serves no site.
    assert custom_domains.served_hosts(conn, settings) == {"stats.shared.test": None}


def test_one_custom_domain_per_site(conn, settings) -> None:
    site_id = site(conn, "example.com")
    custom_domains.add_domain(conn, settings, site_id, "stats.example.com")
    with pytest.raises(custom_domains.SiteHasDomain):
        custom_domains.add_domain(conn, settings, site_id, "pulse.example.com")
    assert custom_domains.remove_domain(conn, site_id)
    assert custom_domains.add_domain(conn, settings, site_id, "pulse.example.com").id


def test_deleting_the_site_deletes_its_claim(conn, settings) -> None:
    site_id = site(conn, "example.com")
    custom_domains.add_domain(conn, settings, site_id, "stats.example.com")
    conn.execute("DELETE FROM sites WHERE id = ?", (site_id,))
    assert custom_domains.served_hosts(conn, settings) == {}
