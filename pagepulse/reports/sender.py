"""Send the reports that are due: find them, claim each, build, send, record.

:func:`send_due_reports` is the whole job; the server's scheduler calls it every
minute and ``pagepulse reports send`` calls it once. For every subscription it takes
the latest period due at ``now`` in the site's timezone and claims that report
(``subscriptions.claim``: an insert on the primary key, so of several workers or a
restarted server exactly one sends it). The claim is marked sent once the SMTP server
accepted the message; a failed send keeps its claim and is retried when the claim
goes stale (``STALE_CLAIM``), until a newer period takes its place.

A subscription is skipped when its member can no longer see the site (removed, or a
membership suspended while the owner's plan lacks team members), when the
owner's plan has no email reports (saas mode), and for periods already due before the
member subscribed (their first report is the next one).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal

from pagepulse.config import Settings
from pagepulse.control import members, plans, sites
from pagepulse.control.db import connect
from pagepulse.mail import MailNotConfigured, mail_configured, send_message
from pagepulse.query import Period
from pagepulse.reports import subscriptions
from pagepulse.reports.content import ReportContent, build_report
from pagepulse.reports.message import build_message
from pagepulse.reports.schedule import Kind, due_at, latest_due_period

log = logging.getLogger("pagepulse.reports")

Status = Literal["sent", "skipped", "failed"]


@dataclass(frozen=True, slots=True)
class DueReport:
    site: sites.Site
    subscription: subscriptions.Subscription
    period: Period


@dataclass(frozen=True, slots=True)
class Outcome:
    report: DueReport
    status: Status  # skipped: sent already, or another sender holds the claim
    error: str | None = None

    def describe(self) -> str:
        due = self.report
        period = f"{due.period.start} – {due.period.end}"
        text = (
            f"{self.status}: {due.subscription.kind} report of {due.site.domain} ({period}) "
            f"to {due.subscription.email}"
        )
        return f"{text}: {self.error}" if self.error else text


def due_reports(
    settings: Settings,
    conn,
    now: dt.datetime,
    *,
    site_id: int | None = None,
    kind: Kind | None = None,
) -> list[DueReport]:
    """The report each subscription is due at ``now`` (sent or not)."""
    found = []
    for sub in subscriptions.subscriptions(conn, site_id=site_id, kind=kind):
        site = sites.get_site(conn, sub.site_id)
        if site is None or members.active_role(settings, conn, site, sub.user_id) is None:
            continue
        if not plans.feature_enabled(settings, conn, site.owner_id, "email_reports"):
            continue
        period = latest_due_period(sub.kind, site.timezone, now)
        if sub.created_at > due_at(period):
            continue
        found.append(DueReport(site, sub, period))
    return found


def send_due_reports(
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    site_id: int | None = None,
    kind: Kind | None = None,
) -> list[Outcome]:
    """Send every due, unsent report (of one site / kind if given); one outcome each."""
    if not mail_configured(settings):
        raise MailNotConfigured("set PAGEPULSE_SMTP_URL to send email reports")
    now = now or dt.datetime.now(dt.UTC)
    conn = connect(settings.db_path)
    built: dict[tuple[int, str, dt.date], ReportContent] = {}
    outcomes = []
    try:
        for due in due_reports(settings, conn, now, site_id=site_id, kind=kind):
            sub = due.subscription
            claim = subscriptions.claim(
                conn, sub.site_id, sub.user_id, sub.kind, due.period.start, time.time()
            )
            if claim is None:
                outcomes.append(Outcome(due, "skipped"))
                continue
            try:
                key = (due.site.id, sub.kind, due.period.start)
                if key not in built:
                    built[key] = build_report(settings, due.site, sub.kind, due.period)
                message = build_message(settings, built[key], sub.user_id, sub.email)
                send_message(settings, message)
            except Exception as exc:  # the claim stays and is retried once stale
                log.warning(
                    "email report of site %d (%s, %s) to user %d failed: %s",
                    *(due.site.id, sub.kind, due.period.start, sub.user_id, exc),
                )
                outcomes.append(Outcome(due, "failed", f"{type(exc).__name__}: {exc}"))
                continue
            subscriptions.mark_sent(conn, claim, time.time())
            log.info(
                "sent email report of site %d (%s, %s) to user %d",
                *(due.site.id, sub.kind, due.period.start, sub.user_id),
            )
            outcomes.append(Outcome(due, "sent"))
    finally:
        conn.close()
    return outcomes


def preview(
    settings: Settings, site: sites.Site, kind: Kind, user_id: int, email: str, now: dt.datetime
) -> EmailMessage:
    """The message ``email`` would get for the latest due period; nothing is claimed."""
    period = latest_due_period(kind, site.timezone, now)
    return build_message(settings, build_report(settings, site, kind, period), user_id, email)
