"""Log-in throttling per account (SQLite) and per client address (memory only), and
answers that do not tell whether an account exists."""

from __future__ import annotations

import ipaddress
import logging
import sqlite3
import uuid

import pytest
import time_machine

from pagepulse.config import Settings
from pagepulse.web import auth
from tests.support.forms import Browser, html

WRONG = "wrong password!"


def error_of(response) -> str:
    return html(response).css_first(".form-errors").text().strip()


def test_unknown_email_and_wrong_password_get_the_same_answer(
    logged_in: Browser, new_browser
) -> None:
    visitor = new_browser()
    wrong_password = visitor.login("owner@example.com", WRONG)
    unknown_email = visitor.login("nobody@example.com", WRONG)
    assert wrong_password.status_code == unknown_email.status_code == 400
    assert error_of(wrong_password) == "Wrong email or password."
    # The pages differ only in the email typed back into the form.
    assert wrong_password.text == unknown_email.text.replace(
        "nobody@example.com", "owner@example.com"
    )


def test_account_locks_after_five_failures_for_fifteen_minutes(
    logged_in: Browser, new_browser
) -> None:
    logged_in.submit("/sites", {}, form="form.logout-form")
    with time_machine.travel("2026-03-01 09:00Z", tick=False) as clock:
        attackers = [new_browser(client=(f"203.0.113.{n}", 4000)) for n in range(5)]
        for attacker in attackers:  # five addresses: the per-address limit stays out of it
            assert attacker.login("owner@example.com", WRONG).status_code == 400
        # Now even the right password, from a fresh address, is refused.
        owner = new_browser(client=("198.51.100.1", 4000))
        response = owner.login("owner@example.com")
        assert response.status_code == 429
        assert "Too many failed log-ins for this account" in error_of(response)
        assert owner.get("/sites").url.path == "/login"

        clock.shift(14 * 60)
        assert owner.login("owner@example.com").status_code == 429
        clock.shift(61)
        assert owner.login("owner@example.com").url.path == "/sites"


def test_success_resets_the_account_count(logged_in: Browser, new_browser) -> None:
    logged_in.submit("/sites", {}, form="form.logout-form")
    for _ in range(4):
        assert logged_in.login("owner@example.com", WRONG).status_code == 400
    assert logged_in.login("owner@example.com").url.path == "/sites"
    logged_in.submit("/sites", {}, form="form.logout-form")
    for _ in range(4):
        assert logged_in.login("owner@example.com", WRONG).status_code == 400
    assert logged_in.login("owner@example.com").url.path == "/sites"


def test_unknown_emails_lock_like_real_accounts(logged_in: Browser, new_browser) -> None:
    """Otherwise a lock-out (429) would reveal that an address has an account."""
    visitor = new_browser()
    answers = {}
    for email in ("owner@example.com", "nobody@example.com"):
        answers[email] = [visitor.login(email, WRONG).status_code for _ in range(6)]
    assert answers["owner@example.com"] == answers["nobody@example.com"] == [400] * 5 + [429]


def fail_logins(browser: Browser, count: int, **headers: str) -> list[int]:
    """``count`` failures, each for a different unknown account (no account lock)."""
    token = browser.token("/login")
    statuses = []
    for _ in range(count):
        email = f"guess-{uuid.uuid4().hex}@example.com"
        data = {"email": email, "password": WRONG, "csrf_token": token}
        statuses.append(browser.client.post("/login", data=data, headers=headers).status_code)
    return statuses


def test_client_address_limit(new_browser) -> None:
    attacker = new_browser(client=("203.0.113.9", 4000))
    assert fail_logins(attacker, 21) == [400] * 20 + [429]
    response = attacker.login("someone@example.com", WRONG)
    assert response.status_code == 429
    assert "Too many failed log-ins from your network" in error_of(response)
    # Someone else is not affected.
    neighbour = new_browser(client=("203.0.113.10", 4000))
    assert fail_logins(neighbour, 1) == [400]


def test_forwarded_for_is_ignored_from_an_untrusted_peer(new_browser) -> None:
    attacker = new_browser(client=("203.0.113.9", 4000))
    statuses = [
        fail_logins(attacker, 1, **{"X-Forwarded-For": f"192.0.2.{n}"})[0] for n in range(21)
    ]
    assert statuses == [400] * 20 + [429]


def test_forwarded_for_is_honoured_from_a_trusted_proxy(settings: Settings, new_browser) -> None:
    settings.trusted_proxies = "10.0.0.0/8"
    proxy = new_browser(client=("10.0.0.2", 4000))
    assert fail_logins(proxy, 21, **{"X-Forwarded-For": "192.0.2.1, 10.0.0.7"}) == (
        [400] * 20 + [429]
    )
    # Another client behind the same proxy still gets through.
    assert fail_logins(proxy, 1, **{"X-Forwarded-For": "192.0.2.2"}) == [400]


def test_no_client_address_is_written_to_the_database_or_logs(
    settings: Settings, logged_in: Browser, new_browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    address = "198.51.100.173"
    visitor = new_browser(client=(address, 4000))
    for _ in range(6):
        visitor.login("owner@example.com", WRONG)
        visitor.login("nobody@example.com", WRONG)
    visitor.register("owner@example.com")  # a taken email also counts a failure
    visitor.login("owner@example.com")
    conn = sqlite3.connect(settings.db_path)
    assert conn.execute("SELECT count(*) FROM login_failures").fetchone()[0] >= 10
    conn.close()
    packed = ipaddress.ip_address(address).packed
    files = [settings.db_path, *settings.data_dir.glob("pagepulse.sqlite3-*")]
    for path in files:
        data = path.read_bytes()
        for needle in (address.encode(), address.encode("utf-16-le"), packed):
            assert needle not in data, path.name
    assert address not in caplog.text


def test_ip_throttle_forgets_after_the_window_and_bounds_its_memory() -> None:
    throttle = auth.IpThrottle("secret", max_failures=2, window=60, max_keys=10)
    throttle.record_failure("192.0.2.1", 0)
    throttle.record_failure("192.0.2.1", 1)
    assert throttle.blocked("192.0.2.1", 2)
    assert not throttle.blocked("192.0.2.1", 61)
    for n in range(50):
        throttle.record_failure(f"192.0.2.{n}", 100)
    assert len(throttle._failures) <= 10
