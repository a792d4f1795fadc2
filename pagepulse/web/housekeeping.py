"""Daily clean-up inside the server: control-plane rows that have served their purpose.

What goes (docs/privacy.md lists the same lifetimes):

- invitations accepted, revoked or expired more than 30 days ago, with the invitee's
  email address (``invitations.prune_finished``);
- email report send records older than about 400 days (``subscriptions.prune_sends``);
- payment webhook delivery ids older than the replay window, 10 minutes
  (``billing_webhook.prune_deliveries``; each delivery prunes them too).

``running(settings)`` is a lifespan hook: every worker prunes at start-up (a server
restarted more often than daily still prunes) and then every ``INTERVAL_SECONDS``.
The deletes are idempotent and cheap, so several workers doing them needs no lock.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator

from pagepulse.config import Settings
from pagepulse.control import billing_webhook, invitations
from pagepulse.control.db import connect, transaction
from pagepulse.reports import subscriptions
from pagepulse.web.background import periodic

log = logging.getLogger("pagepulse.housekeeping")

INTERVAL_SECONDS = 24 * 3600.0


def prune_once(settings: Settings, now: float | None = None) -> dict[str, int]:
    """One clean-up at ``now`` (default: the clock); how many rows went, per table."""
    now = time.time() if now is None else now
    conn = connect(settings.db_path)
    try:
        with transaction(conn):
            pruned = {
                "invitations": invitations.prune_finished(conn, now),
                "report_sends": subscriptions.prune_sends(conn, now),
                "webhook_deliveries": billing_webhook.prune_deliveries(conn, now),
            }
    finally:
        conn.close()
    if any(pruned.values()):
        log.info("pruned %s", ", ".join(f"{n} {table}" for table, n in pruned.items() if n))
    return pruned


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[None]:
    job = functools.partial(prune_once, settings)
    async with periodic("pagepulse-housekeeping", INTERVAL_SECONDS, job):
        yield
