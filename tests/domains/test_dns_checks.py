"""Verifying a claim against a real DNS server on loopback, and what each outcome does to
the stored claim: TXT, CNAME, wrong token, NXDOMAIN, no answer, the grace period."""

from __future__ import annotations

import sqlite3
import time

import pytest

from pagepulse.config import Settings
from pagepulse.control import custom_domains, domain_dns
from tests.domains.helpers import (
    TARGET,
    database,
    domain_settings,
    site,
    txt_record,
    verified_claim,
)
from tests.support.dns import DnsTestServer, silent_dns_server

HOST = "stats.example.com"
GRACE = 3 * 24 * 3600.0


def claim(conn: sqlite3.Connection, settings: Settings) -> custom_domains.CustomDomain:
    return custom_domains.add_domain(conn, settings, site(conn, "example.com"), HOST)


def test_a_txt_record_at_the_underscore_name_verifies(conn, settings, dns: DnsTestServer):
    domain = claim(conn, settings)
    dns.records[f"_pagepulse.{HOST}"] = {"TXT": ["v=spf1 -all", domain.txt_value]}
    checked = custom_domains.verify(conn, settings, domain, now=1000.0)
    assert (checked.verified_at, checked.verified_by, checked.last_error) == (1000.0, "txt", None)
    assert checked.last_checked_at == 1000.0
    assert (f"_pagepulse.{HOST}", "TXT") in dns.queries


def test_a_txt_record_on_the_host_itself_verifies(conn, settings, dns: DnsTestServer):
    domain = claim(conn, settings)
    dns.records[HOST] = txt_record(domain)
    assert custom_domains.verify(conn, settings, domain).verified_by == "txt"


def test_a_cname_to_the_target_verifies_directly_or_through_a_chain(
    conn, settings, dns: DnsTestServer
):
    domain = claim(conn, settings)
    dns.records[HOST] = {"CNAME": ["edge.cdn.example.net"]}
    dns.records["edge.cdn.example.net"] = {"CNAME": [TARGET]}
    dns.records[TARGET] = {"A": ["192.0.2.10"]}
    checked = custom_domains.verify(conn, settings, domain)
    assert (checked.verified, checked.verified_by) == (True, "cname")


def test_a_wrong_token_is_named_in_the_error(conn, settings, dns: DnsTestServer):
    domain = claim(conn, settings)
    dns.records[f"_pagepulse.{HOST}"] = {"TXT": ["pagepulse-verification=not-this-one"]}
    checked = custom_domains.verify(conn, settings, domain)
    assert not checked.verified
    assert checked.last_error is not None
    assert (
        f'TXT at _pagepulse.{HOST} holds another token ("pagepulse-verification=not-this-one")'
        in checked.last_error
    )
    assert domain.verification_token not in checked.last_error


def test_a_host_missing_from_dns_says_nxdomain(conn, settings, dns: DnsTestServer):
    checked = custom_domains.verify(conn, settings, claim(conn, settings))
    assert not checked.verified
    assert f"{HOST} does not exist in DNS (NXDOMAIN)" in (checked.last_error or "")


def test_a_cname_elsewhere_names_where_it_points(conn, settings, dns: DnsTestServer):
    dns.records[HOST] = {"CNAME": ["somewhere.example.net"]}
    checked = custom_domains.verify(conn, settings, claim(conn, settings))
    assert not checked.verified
    assert f"{HOST} is a CNAME to somewhere.example.net, not to {TARGET}" in (
        checked.last_error or ""
    )


def test_a_dns_server_that_does_not_answer_is_a_clear_inconclusive_error(tmp_path):
    with silent_dns_server() as address:
        settings = domain_settings(tmp_path / "data", address, dns_timeout=0.5)
        with database(settings) as conn:
            domain = claim(conn, settings)
            started = time.monotonic()
            outcome = custom_domains.check_dns(conn, settings, domain)
            elapsed = time.monotonic() - started
    assert not outcome.passed and not outcome.definitive
    assert outcome.error is not None
    assert outcome.error.startswith(
        "No answer from DNS: the DNS server did not answer within 0.5 s"
    )
    assert elapsed < 1.5  # the first lookup without an answer ends the check


def test_servfail_is_inconclusive_too(conn, settings, dns: DnsTestServer):
    dns.servfail = True
    outcome = custom_domains.check_dns(conn, settings, claim(conn, settings))
    assert not outcome.passed and not outcome.definitive
    assert "SERVFAIL" in (outcome.error or "")


def test_the_nameserver_setting_takes_ip_and_port():
    assert domain_dns.parse_nameserver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert domain_dns.parse_nameserver("10.0.0.2") == ("10.0.0.2", 53)
    assert domain_dns.parse_nameserver("[::1]:5300") == ("::1", 5300)
    assert domain_dns.parse_nameserver("::1") == ("::1", 53)
    for wrong in ("dns.example.com", "127.0.0.1:x", "127.0.0.1:70000", ""):
        with pytest.raises(ValueError, match="PAGEPULSE_DNS_NAMESERVER must be IP or IP:port"):
            domain_dns.parse_nameserver(wrong)


def test_with_two_claims_a_cname_is_not_enough_but_the_txt_is(conn, settings, dns):
    ours = claim(conn, settings)
    theirs = custom_domains.add_domain(conn, settings, site(conn, "other.example"), HOST)
    dns.records[HOST] = {"CNAME": [TARGET]}
    for domain in (ours, theirs):
        checked = custom_domains.verify(conn, settings, domain)
        assert not checked.verified
        assert "another site claims it too" in (checked.last_error or "")
    dns.records[f"_pagepulse.{HOST}"] = txt_record(ours)
    assert custom_domains.verify(conn, settings, ours).verified
    # The other claim cannot verify now, even with its own TXT record: the host is taken.
    dns.records[f"_pagepulse.{HOST}"] = {"TXT": [ours.txt_value, theirs.txt_value]}
    checked = custom_domains.verify(conn, settings, theirs)
    assert not checked.verified
    assert checked.last_error == f"{HOST} is verified by another site."
    assert custom_domains.served_hosts(conn, settings) == {HOST: ours.site_id}


def test_a_verified_host_keeps_serving_through_the_grace_period(conn, settings, dns):
    t0 = time.time()
    domain = verified_claim(conn, settings, dns, site(conn, "example.com"), HOST)
    del dns.records[domain.txt_name]

    first_miss = custom_domains.verify(conn, settings, domain, now=t0 + 60)
    assert first_miss.verified and first_miss.failing_since == t0 + 60
    assert "does not exist in DNS" in (first_miss.last_error or "")
    almost = custom_domains.verify(conn, settings, first_miss, now=t0 + 60 + GRACE - 1)
    assert almost.verified and almost.failing_since == t0 + 60
    assert custom_domains.served_hosts(conn, settings) == {HOST: domain.site_id}

    expired = custom_domains.verify(conn, settings, almost, now=t0 + 60 + GRACE)
    assert not expired.verified and expired.verified_by is None
    assert (expired.last_error or "").startswith("Unverified: the record has been missing since")
    assert custom_domains.served_hosts(conn, settings) == {HOST: None}
    assert not custom_domains.tls_allowed(conn, settings, HOST)


def test_the_record_coming_back_stops_the_clock(conn, settings, dns):
    domain = verified_claim(conn, settings, dns, site(conn, "example.com"), HOST)
    record = dns.records.pop(domain.txt_name)
    missing = custom_domains.verify(conn, settings, domain, now=time.time() + 10)
    assert missing.failing_since is not None
    dns.records[domain.txt_name] = record
    back = custom_domains.verify(conn, settings, missing, now=time.time() + 20)
    assert back.verified and back.failing_since is None and back.last_error is None
    # ...and the first verification time is kept.
    assert back.verified_at == domain.verified_at


def test_no_answer_neither_starts_nor_stops_the_clock(conn, settings, dns):
    domain = verified_claim(conn, settings, dns, site(conn, "example.com"), HOST)
    dns.servfail = True
    unanswered = custom_domains.verify(conn, settings, domain, now=time.time() + GRACE * 2)
    assert unanswered.verified and unanswered.failing_since is None
    assert "SERVFAIL" in (unanswered.last_error or "")

    dns.servfail = False
    del dns.records[domain.txt_name]
    t1 = time.time() + 100
    missing = custom_domains.verify(conn, settings, unanswered, now=t1)
    dns.servfail = True
    later = custom_domains.verify(conn, settings, missing, now=t1 + GRACE + 1)
    assert later.verified and later.failing_since == t1  # not unverified without an answer


def test_the_rechecks_verify_a_pending_claim_once_its_record_appears(conn, settings, dns):
    domain = claim(conn, settings)
    assert custom_domains.recheck_due(conn, settings, time.time()) == 1
    assert not custom_domains.get_domain(conn, domain.site_id).verified  # type: ignore[union-attr]
    dns.records[HOST] = {"CNAME": [TARGET]}
    # Not due again until the interval has passed.
    assert custom_domains.recheck_due(conn, settings, time.time() + 10) == 0
    later = time.time() + settings.custom_domain_recheck_seconds + 1
    assert custom_domains.recheck_due(conn, settings, later) == 1
    checked = custom_domains.get_domain(conn, domain.site_id)
    assert checked is not None and checked.verified_by == "cname"


def test_a_due_check_is_taken_by_one_worker_only(conn, settings, tmp_path):
    domain = claim(conn, settings)
    with database(settings) as other_worker:
        now = time.time()
        interval = settings.custom_domain_recheck_seconds
        taken = custom_domains.claim_next_due(conn, now, interval)
        assert taken is not None and taken.id == domain.id and taken.last_checked_at == now
        assert custom_domains.claim_next_due(other_worker, now, interval) is None
        assert custom_domains.claim_next_due(other_worker, now + interval, interval) is not None


def test_in_saas_mode_only_an_owner_with_the_feature_is_served(tmp_path, dns):
    settings = domain_settings(tmp_path / "data", dns.address, mode="saas")
    with database(settings) as conn:
        domain = verified_claim(conn, settings, dns, site(conn, "example.com"), HOST)
        assert custom_domains.served_hosts(conn, settings) == {HOST: None}
        assert not custom_domains.tls_allowed(conn, settings, HOST)
        assert custom_domains.public_base_url(conn, settings, domain.site_id, 1) == (
            "http://pagepulse.test"
        )
        conn.execute("UPDATE users SET plan = 'business'")
        assert custom_domains.served_hosts(conn, settings) == {HOST: domain.site_id}
        assert custom_domains.tls_allowed(conn, settings, HOST)
        assert custom_domains.public_base_url(conn, settings, domain.site_id, 1) == (
            f"http://{HOST}"
        )


def test_a_round_of_rechecks_stops_between_two_checks_when_asked(conn, settings) -> None:
    ids = [
        claim(conn, settings).id,
        custom_domains.add_domain(conn, settings, site(conn, "b.example"), "stats.b.example").id,
    ]
    asked: list[bool] = []

    def stop_after_one_check() -> bool:
        asked.append(True)
        return len(asked) > 1

    assert custom_domains.recheck_due(conn, settings, time.time(), stop_after_one_check) == 1
    checked = [custom_domains.get_domain_by_id(conn, i).last_checked_at for i in ids]  # type: ignore[union-attr]
    # The one left unclaimed is still due for the next round.
    assert sorted(at is None for at in checked) == [False, True]
