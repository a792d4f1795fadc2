"""Due reports sent to a real SMTP server on loopback (aiosmtpd): the received message,
its numbers, escaping, once-only sending across schedulers, threads, processes and
restarts, retries, and who receives what."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine
from selectolax.lexbor import LexborHTMLParser

from pagepulse.config import Settings
from pagepulse.control import members, plans
from pagepulse.control.db import open_database
from pagepulse.reports import subscriptions
from pagepulse.reports.sender import send_due_reports
from pagepulse.reports.unsubscribe import read_token
from tests.reports import report_data as data
from tests.support.smtp import SmtpServer


@pytest.fixture
def mail_settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    return settings.model_copy(
        update={"smtp_url": smtp_server.url, "base_url": "https://stats.example.org"}
    )


@pytest.fixture
def conn(mail_settings: Settings) -> Iterator[sqlite3.Connection]:
    conn = open_database(mail_settings.db_path)
    yield conn
    conn.close()


@pytest.fixture
def shop(mail_settings: Settings, conn: sqlite3.Connection, tmp_path: Path):
    owner = data.add_user(conn, "owner@example.com")
    site = data.add_site(conn, owner)
    data.import_traffic(mail_settings.events_dir, site.id, tmp_path)
    return site, owner


def sent_to(smtp_server: SmtpServer) -> list[str]:
    return sorted(mail.message["To"] for mail in smtp_server.received)


def test_the_weekly_report_as_received(mail_settings, conn, shop, smtp_server):
    site, owner = shop
    data.subscribe(conn, site, owner, "weekly")
    [outcome] = send_due_reports(mail_settings, now=data.DUE)
    assert outcome.status == "sent", outcome.error
    [mail] = smtp_server.wait_for(1)
    message = mail.message

    assert mail.rcpt_tos == ("owner@example.com",)
    assert message["To"] == "owner@example.com"
    assert message["From"] == "PagePulse <pagepulse@localhost>"
    assert message["Subject"] == "Weekly report for shop.example: 1–7 June 2026"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@localhost>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message["List-Unsubscribe"].strip("<>")
    prefix = "https://stats.example.org/reports/unsubscribe/"
    assert link.startswith(prefix)
    wanted = read_token(mail_settings, link.removeprefix(prefix))
    assert wanted is not None
    assert (wanted.site_id, wanted.user_id, wanted.kind) == (site.id, owner.id, "weekly")

    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    page = LexborHTMLParser(message.get_body(("html",)).get_content())

    # Counted by hand (report_data's docstring), with the change vs the week before.
    expected = {
        "visitors": ("4", "+100%"),
        "visits": ("4", "+100%"),
        "pageviews": ("5", "+67%"),
        "bounce_rate": ("75%", "+25 pp"),
        "visit_duration": ("30s", "0%"),
    }
    assert data.stat_rows(page) == expected
    for line in (
        "Unique visitors:          4  +100%\n",
        "Total pageviews:          5  +67%\n",
        "Bounce rate:            75%  +25 pp\n",
        "Visit duration:         30s  0%\n",
    ):
        assert line in text
    assert "1–7 June 2026, compared with 25–31 May 2026" in text
    assert page.css_first("#period").text() == "1–7 June 2026, compared with 25–31 May 2026"

    lists = data.ranked_lists(page)
    hostile_path = "/<img src=x onerror=alert(1)>Bcc: victim@example.com"  # CR LF removed
    assert lists["Top pages"] == [
        ("/", "2"),
        (hostile_path, "1"),
        ("/blog", "1"),
        ("/pricing", "1"),
    ]
    assert sorted(lists["Top sources"]) == sorted(
        [
            ("Direct / None", "1"),
            ("Google", "1"),
            ("Twitter", "1"),
            (data.HOSTILE_SOURCE, "1"),
        ]
    )
    assert lists["Top countries"][0] == ("🇩🇪 Germany", "2")
    assert {name for name, _ in lists["Top countries"]} == {
        "🇩🇪 Germany",
        "🇺🇸 United States",
        "🇫🇷 France",
    }
    assert "/next-week" not in text  # 00:30 Berlin on 8 June: next week's

    dashboard = page.css_first("#dashboard-link").attributes["href"]
    assert dashboard == (
        f"https://stats.example.org/sites/{site.id}?period=custom&from=2026-06-01&to=2026-06-07"
    )
    assert page.css_first("#unsubscribe-link").attributes["href"] == link
    assert f"Unsubscribe: {link}" in text


def test_hostile_names_are_escaped_in_html_and_inert_in_text(
    mail_settings, conn, shop, smtp_server
):
    site, owner = shop
    data.subscribe(conn, site, owner, "weekly")
    send_due_reports(mail_settings, now=data.DUE)
    [mail] = smtp_server.wait_for(1)
    html = mail.message.get_body(("html",)).get_content()
    text = mail.message.get_body(("plain",)).get_content()
    page = LexborHTMLParser(html)
    assert page.css("img") == [] and page.css("script") == []
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(&#39;src&#39;)&lt;/script&gt;" in html
    # The text part: the CR LF of the path did not start a new line ("header" forgery).
    assert "\nBcc:" not in text and "\rBcc:" not in text
    assert "      1  /<img src=x onerror=alert(1)>Bcc: victim@example.com\n" in text
    assert mail.message["Bcc"] is None and mail.rcpt_tos == ("owner@example.com",)


def test_monthly_report_compares_with_the_calendar_month_before(
    mail_settings, conn, shop, smtp_server
):
    site, owner = shop
    data.subscribe(conn, site, owner, "monthly")
    july_first = dt.datetime(2026, 7, 1, 7, 0, tzinfo=dt.UTC)  # 09:00 Berlin
    before = send_due_reports(mail_settings, now=july_first - dt.timedelta(seconds=1))
    assert [o.report.period.start for o in before] == [dt.date(2026, 5, 1)]
    [outcome] = send_due_reports(mail_settings, now=july_first)
    assert outcome.status == "sent"
    _may, mail = smtp_server.wait_for(2)
    assert mail.message["Subject"] == "Monthly report for shop.example: June 2026"
    text = mail.message.get_body(("plain",)).get_content()
    assert "June 2026, compared with May 2026" in text
    # June (Berlin): 5 visits incl. the one at 00:30 on 8 June; May: 2 visits and the
    # 31 May 22:30 UTC one is June in Berlin.
    assert "Total visits:             5  +150%\n" in text


def test_nothing_is_sent_before_the_slot_and_once_after(mail_settings, conn, shop, smtp_server):
    site, owner = shop
    data.subscribe(conn, site, owner, "weekly")
    early = send_due_reports(mail_settings, now=data.BEFORE_DUE)
    # Before Monday 09:00 the latest due week is the one before (25–31 May).
    assert [o.report.period.start for o in early] == [dt.date(2026, 5, 25)]
    smtp_server.wait_for(1)
    outcomes = send_due_reports(mail_settings, now=data.DUE)
    assert [(o.status, o.report.period.start) for o in outcomes] == [("sent", data.WEEK_START)]
    # Later checks that week (a restart, another worker, the next minute): nothing.
    for minutes in (1, 60, 60 * 24 * 6):
        later = send_due_reports(mail_settings, now=data.DUE + dt.timedelta(minutes=minutes))
        assert [o.status for o in later] == ["skipped"]
    subjects = [m["Subject"] for m in smtp_server.messages]
    assert subjects == [
        "Weekly report for shop.example: 25–31 May 2026",
        "Weekly report for shop.example: 1–7 June 2026",
    ]
    sent = subscriptions.sent_at(conn, site.id, owner.id, "weekly", data.WEEK_START)
    assert sent is not None


def test_opt_in_is_per_member(mail_settings, conn, shop, smtp_server):
    site, _owner = shop
    admin = data.add_user(conn, "admin@example.com")
    viewer = data.add_user(conn, "viewer@example.com")
    quiet = data.add_user(conn, "quiet@example.com")
    stranger = data.add_user(conn, "stranger@example.com")
    data.add_member(conn, site, admin, "admin")
    data.add_member(conn, site, viewer, "viewer")
    data.add_member(conn, site, quiet, "viewer")
    data.subscribe(conn, site, viewer, "weekly")
    data.subscribe(conn, site, admin, "monthly")
    data.subscribe(conn, site, stranger, "weekly")  # never a member: ignored
    outcomes = send_due_reports(mail_settings, now=data.DUE)
    assert [(o.report.subscription.email, o.status) for o in outcomes] == [
        ("admin@example.com", "sent"),
        ("viewer@example.com", "sent"),
    ]
    smtp_server.wait_for(2)
    by_to = {m["To"]: m["Subject"] for m in smtp_server.messages}
    assert by_to == {
        "admin@example.com": "Monthly report for shop.example: May 2026",
        "viewer@example.com": "Weekly report for shop.example: 1–7 June 2026",
    }
    # Each link unsubscribes its own member from its own report.
    links = {m["To"]: m["List-Unsubscribe"] for m in smtp_server.messages}
    assert links["admin@example.com"] != links["viewer@example.com"]


def test_a_removed_member_gets_no_more_reports(mail_settings, conn, shop, smtp_server):
    site, _owner = shop
    viewer = data.add_user(conn, "viewer@example.com")
    data.add_member(conn, site, viewer)
    data.subscribe(conn, site, viewer, "weekly")
    members.remove_member(conn, site.id, viewer.id)
    assert send_due_reports(mail_settings, now=data.DUE) == []
    assert smtp_server.received == []


def test_a_subscription_starts_with_the_next_slot(mail_settings, conn, shop, smtp_server):
    site, owner = shop
    data.subscribe(conn, site, owner, "weekly", at=data.DUE + dt.timedelta(hours=2))
    assert send_due_reports(mail_settings, now=data.DUE + dt.timedelta(hours=3)) == []
    next_monday = data.DUE + dt.timedelta(days=7)
    [outcome] = send_due_reports(mail_settings, now=next_monday)
    assert outcome.status == "sent" and outcome.report.period.start == dt.date(2026, 6, 8)


def test_saas_mode_needs_a_plan_with_email_reports(mail_settings, conn, shop, smtp_server):
    site, owner = shop
    data.subscribe(conn, site, owner, "weekly")
    [viewer] = data.add_readers(conn, site, 1)
    saas = mail_settings.model_copy(update={"mode": "saas"})
    assert send_due_reports(saas, now=data.DUE) == []  # the free plan has no email reports
    # Pro has email reports but no team members: the viewer's membership is suspended.
    plans.set_plan(saas, conn, owner.id, "pro", "cli")
    outcomes = send_due_reports(saas, now=data.DUE)
    assert [(o.report.subscription.email, o.status) for o in outcomes] == [
        ("owner@example.com", "sent")
    ]
    plans.set_plan(saas, conn, owner.id, "business", "cli")
    outcomes = send_due_reports(saas, now=data.DUE)
    assert [(o.report.subscription.email, o.status) for o in outcomes] == [
        ("owner@example.com", "skipped"),
        (viewer, "sent"),
    ]
    smtp_server.wait_for(2)
    assert sent_to(smtp_server) == ["owner@example.com", viewer]


def test_a_failed_send_is_retried_once_its_claim_is_stale(mail_settings, conn, shop, smtp_server):
    site, owner = shop
    data.subscribe(conn, site, owner, "weekly")
    smtp_server.fail_next(1)
    with time_machine.travel(data.DUE, tick=False) as clock:
        [failed] = send_due_reports(mail_settings)
        assert failed.status == "failed" and "451" in (failed.error or "")
        clock.shift(dt.timedelta(minutes=5))  # the claim is still held
        assert [o.status for o in send_due_reports(mail_settings)] == ["skipped"]
        clock.shift(dt.timedelta(minutes=6))  # 11 minutes: stale, retried
        assert [o.status for o in send_due_reports(mail_settings)] == ["sent"]
        clock.shift(dt.timedelta(minutes=30))
        assert [o.status for o in send_due_reports(mail_settings)] == ["skipped"]
    assert len(smtp_server.wait_for(1)) == 1


def test_a_sender_that_died_after_claiming_is_taken_over(mail_settings, conn, shop, smtp_server):
    site, owner = shop
    data.subscribe(conn, site, owner, "weekly")
    with time_machine.travel(data.DUE, tick=False) as clock:
        claim = subscriptions.claim(conn, site.id, owner.id, "weekly", data.WEEK_START, _now())
        assert claim is not None  # ... and its process was killed before SMTP
        assert (
            subscriptions.claim(conn, site.id, owner.id, "weekly", data.WEEK_START, _now()) is None
        )
        assert [o.status for o in send_due_reports(mail_settings)] == ["skipped"]
        clock.shift(subscriptions.STALE_CLAIM + dt.timedelta(seconds=1))
        assert [o.status for o in send_due_reports(mail_settings)] == ["sent"]
    assert sent_to(smtp_server) == ["owner@example.com"]


def test_catch_up_after_downtime_sends_the_latest_week_only(mail_settings, conn, shop, smtp_server):
    site, owner = shop
    data.subscribe(conn, site, owner, "weekly")
    # The server was off from before 8 June until Wednesday 17 June.
    outcomes = send_due_reports(mail_settings, now=dt.datetime(2026, 6, 17, 12, tzinfo=dt.UTC))
    assert [(o.status, o.report.period.start) for o in outcomes] == [("sent", dt.date(2026, 6, 8))]
    assert len(smtp_server.wait_for(1)) == 1


def test_concurrent_schedulers_in_threads_send_each_report_once(
    mail_settings, conn, shop, smtp_server
):
    site, owner = shop
    readers = data.add_readers(conn, site, 6)
    data.subscribe(conn, site, owner, "weekly")
    start = threading.Barrier(4)
    results: list[list] = []

    def scheduler() -> None:
        start.wait()
        results.append(send_due_reports(mail_settings, now=data.DUE))

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = [o.status for result in results for o in result]
    assert statuses.count("sent") == 7 and statuses.count("skipped") == 21
    smtp_server.wait_for(7)
    assert sent_to(smtp_server) == sorted(["owner@example.com", *readers])


def test_concurrent_cli_processes_send_each_report_once(mail_settings, conn, shop, smtp_server):
    site, owner = shop
    readers = data.add_readers(conn, site, 3)
    data.subscribe(conn, site, owner, "weekly")
    env = {
        **os.environ,
        "PAGEPULSE_DATA_DIR": str(mail_settings.data_dir),
        "PAGEPULSE_SECRET_KEY": "test-secret-key",
        "PAGEPULSE_SMTP_URL": mail_settings.smtp_url,
    }
    command = [
        sys.executable,
        "-m",
        "pagepulse.cli",
        "reports",
        "send",
        "--now",
        data.DUE.isoformat(),
    ]
    procs = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    summaries = [out.strip().splitlines()[-1] for out, _err in outputs]
    sent = sum(int(summary.split(" sent")[0]) for summary in summaries)
    assert sent == 4, summaries
    smtp_server.wait_for(4)
    assert len(smtp_server.received) == 4
    assert sent_to(smtp_server) == sorted(["owner@example.com", *readers])


def _now() -> float:
    return time.time()
