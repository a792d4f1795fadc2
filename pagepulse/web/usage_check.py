"""The server's periodic overuse check (saas mode only): flags accounts far over their plan.

Every ``PAGEPULSE_USAGE_CHECK_SECONDS`` (the first time after at most a minute) one
worker runs :func:`pagepulse.control.overuse.check_overuse`; with several workers a lock
file in the data dir lets one of them do it and the others skip that round. Counting
runs on a thread, off the event loop (``background.periodic``). ``pagepulse plan check``
does the same by hand.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import logging
import os
from collections.abc import AsyncIterator

from pagepulse.config import Settings
from pagepulse.control import overuse, plans
from pagepulse.control.db import connect
from pagepulse.web.background import periodic

log = logging.getLogger("pagepulse.usage")

FIRST_CHECK_MAX_SECONDS = 60.0
LOCK_NAME = ".usage-check.lock"


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[None]:
    if not plans.limits_enforced(settings) or settings.usage_check_seconds <= 0:
        yield
        return
    interval = settings.usage_check_seconds
    first_delay = min(interval, FIRST_CHECK_MAX_SECONDS)
    job = functools.partial(check_once, settings)
    async with periodic("pagepulse-usage-check", interval, job, first_delay_seconds=first_delay):
        yield  # a round that fails is tried again next time; nothing is cut off meanwhile


def check_once(settings: Settings) -> list[overuse.Flag] | None:
    """One round, unless another worker is running one (then None)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        conn = connect(settings.db_path)
        try:
            flags = overuse.check_overuse(settings, conn, dt.datetime.now(dt.UTC))
        finally:
            conn.close()
    finally:
        os.close(fd)
    for flag in flags:
        log.warning("account %d flagged for %s: %s", flag.user_id, flag.month, flag.reason)
    return flags
