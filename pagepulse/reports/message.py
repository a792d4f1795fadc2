"""A report as an email: plain-text and HTML parts from ``templates/email/``, and headers.

Each recipient gets their own message (their unsubscribe link is theirs). Headers:
``List-Unsubscribe`` with the signed HTTPS link and ``List-Unsubscribe-Post:
List-Unsubscribe=One-Click`` (RFC 8058: mail clients offer an unsubscribe button that
POSTs to the link), ``Auto-Submitted: auto-generated`` (RFC 3834: no auto-replies).
Everything shown in the HTML part is autoescaped; the text part is not markup.
"""

from __future__ import annotations

import functools
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import jinja2

from pagepulse.config import Settings
from pagepulse.reports.content import ReportContent
from pagepulse.reports.unsubscribe import unsubscribe_url
from pagepulse.web.templating import TEMPLATES_DIR

KIND_LABELS = {"weekly": "Weekly", "monthly": "Monthly"}


@functools.cache
def email_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR / "email"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["pad"] = lambda value, width: str(value).ljust(width)
    env.filters["rpad"] = lambda value, width: str(value).rjust(width)
    return env


def subject(report: ReportContent) -> str:
    return f"{KIND_LABELS[report.kind]} report for {report.site.domain}: {report.label}"


def render_parts(settings: Settings, report: ReportContent, user_id: int) -> tuple[str, str]:
    """(plain text, HTML) of the report as ``user_id`` receives it."""
    base = settings.base_url.rstrip("/")
    context = {
        "report": report,
        "subject": subject(report),
        "kind_label": KIND_LABELS[report.kind],
        "unsubscribe_url": unsubscribe_url(settings, report.site.id, user_id, report.kind),
        "manage_url": f"{base}/sites/{report.site.id}/reports",
    }
    env = email_templates()
    return env.get_template("report.txt").render(context), env.get_template("report.html").render(
        context
    )


def build_message(settings: Settings, report: ReportContent, user_id: int, to: str) -> EmailMessage:
    text, html = render_parts(settings, report, user_id)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject(report)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid("report", domain=_sender_domain(settings))
    link = unsubscribe_url(settings, report.site.id, user_id, report.kind)
    message["List-Unsubscribe"] = f"<{link}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _sender_domain(settings: Settings) -> str:
    address = parseaddr(settings.mail_from)[1]
    return address.rpartition("@")[2] or "pagepulse.localhost"
