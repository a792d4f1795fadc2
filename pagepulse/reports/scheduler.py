"""Email reports inside the server: a background task that sends due reports every minute.

``running(settings)`` is a lifespan hook (``asgi.py`` passes it to ``create_web_app``).
Every worker runs one; the claims in ``report_sends`` make each report go out once.
The first check runs at start-up, so a slot missed while the server was down is sent
as soon as it is back (the latest period only: see ``schedule``). Without
``PAGEPULSE_SMTP_URL`` the task does not start. The loop itself (a thread per check,
errors logged, a prompt stop) is ``pagepulse.web.background.periodic``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator

from pagepulse.config import Settings
from pagepulse.mail import mail_configured
from pagepulse.reports.sender import send_due_reports
from pagepulse.web.background import periodic

log = logging.getLogger("pagepulse.reports")

CHECK_INTERVAL_S = 60.0


@contextlib.asynccontextmanager
async def running(settings: Settings, interval: float = CHECK_INTERVAL_S) -> AsyncIterator[None]:
    if not mail_configured(settings):
        log.info("email reports are off: PAGEPULSE_SMTP_URL is not set")
        yield
        return
    async with periodic(
        "pagepulse-reports", interval, functools.partial(send_due_reports, settings)
    ):
        yield
