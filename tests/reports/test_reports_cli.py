"""``pagepulse reports send`` and ``pagepulse reports preview`` (typer's runner, the
real data dir through PAGEPULSE_* variables, the real SMTP server)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pagepulse.config import Settings
from pagepulse.control.db import open_database
from pagepulse.reports import subscriptions
from tests.reports import report_data as data
from tests.support.smtp import SmtpServer

runner = CliRunner()


@pytest.fixture
def site_id(settings: Settings, tmp_path, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("PAGEPULSE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PAGEPULSE_SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("PAGEPULSE_BASE_URL", "https://stats.example.org")
    conn = open_database(settings.db_path)
    owner = data.add_user(conn, "owner@example.com")
    site = data.add_site(conn, owner)
    data.subscribe(conn, site, owner, "weekly")
    conn.close()
    data.import_traffic(settings.events_dir, site.id, tmp_path)
    return site.id


def invoke(*args: str):
    from pagepulse.cli import app

    return runner.invoke(app, ["reports", *args])


def test_preview_prints_the_report_and_sends_nothing(settings, site_id, smtp_server, monkeypatch):
    monkeypatch.setenv("PAGEPULSE_SMTP_URL", smtp_server.url)
    now = data.DUE.isoformat()
    result = invoke("preview", "--site", str(site_id), "--now", now)
    assert result.exit_code == 0, result.output
    assert "Subject: Weekly report for shop.example: 1–7 June 2026" in result.output
    assert "To: owner@example.com" in result.output
    assert "Total pageviews:          5  +67%" in result.output
    html = invoke("preview", "--site", str(site_id), "--now", now, "--html", "--kind", "monthly")
    assert html.exit_code == 0, html.output
    assert "Monthly report for shop.example: May 2026" in html.output
    assert 'id="top-stats"' in html.output
    assert smtp_server.received == []
    conn = open_database(settings.db_path)
    assert subscriptions.sent_at(conn, site_id, 1, "weekly", data.WEEK_START) is None
    conn.close()


def test_send_sends_the_due_reports_once(site_id, smtp_server: SmtpServer, monkeypatch):
    monkeypatch.setenv("PAGEPULSE_SMTP_URL", smtp_server.url)
    first = invoke("send", "--now", data.DUE.isoformat(), "--site", str(site_id))
    assert first.exit_code == 0, first.output
    assert "sent: weekly report of shop.example (2026-06-01 – 2026-06-07)" in first.output
    assert first.output.strip().endswith("1 sent, 0 skipped, 0 failed")
    again = invoke("send", "--now", "2026-06-08T10:00:00+02:00", "--kind", "weekly")
    assert again.output.strip().endswith("0 sent, 1 skipped, 0 failed")
    assert [m["To"] for m in smtp_server.messages] == ["owner@example.com"]


def test_a_failed_send_exits_1(site_id, smtp_server: SmtpServer, monkeypatch):
    monkeypatch.setenv("PAGEPULSE_SMTP_URL", smtp_server.url)
    smtp_server.fail_next(1)
    result = invoke("send", "--now", data.DUE.isoformat())
    assert result.exit_code == 1
    assert "failed: weekly report of shop.example" in result.output
    assert "451" in result.output


def test_send_without_smtp_and_bad_options(site_id):
    no_smtp = invoke("send")
    assert no_smtp.exit_code == 1
    assert "PAGEPULSE_SMTP_URL" in no_smtp.output
    assert invoke("send", "--kind", "daily").exit_code == 2
    assert invoke("send", "--now", "next monday").exit_code == 2
    assert invoke("preview", "--site", "999").exit_code == 2
