"""Jobs the server repeats while it runs: one blocking function, every so often, on a thread.

``periodic(name, interval_seconds, job)`` is an async context manager for a lifespan
hook. On entry it starts a task that waits ``first_delay_seconds`` (0: run at once), calls
``job()`` on a worker thread (queries, SQLite, SMTP and DNS block: never on the event
loop), then waits ``interval_seconds`` after each run ends, until the lifespan exits.

- A run that raises is logged with its traceback and the next one comes on time: a
  failing job never stops the loop, nor the server.
- On exit the wait between two runs ends at once. A run in progress is let finish (a
  thread cannot be interrupted), so nothing is left half done; a job with many steps
  watches ``stopping`` (a ``threading.Event`` set at exit) to stop between two of them.
- Every worker runs its own loop; making one worker do a round (claims in SQLite, a
  lock file) is the job's business.

The users: ``reports/scheduler.py`` (email reports), ``web/custom_hosts.py`` (custom
domain re-checks), ``web/usage_check.py`` (overuse flags), ``web/housekeeping.py``
(pruning rows that have served their purpose).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable

log = logging.getLogger("pagepulse.background")


@contextlib.asynccontextmanager
async def periodic(
    name: str,
    interval_seconds: float,
    job: Callable[[], object],
    *,
    first_delay_seconds: float = 0.0,
    stopping: threading.Event | None = None,
) -> AsyncIterator[None]:
    """Run ``job`` every ``interval_seconds`` (between the end of a run and the next
    start) while the ``async with`` body runs; ``stopping`` is set when it ends."""
    stopping = stopping or threading.Event()
    wake = asyncio.Event()
    task = asyncio.create_task(
        _repeat(name, interval_seconds, job, first_delay_seconds, wake), name=name
    )
    try:
        yield
    finally:
        stopping.set()
        wake.set()
        await task


async def _repeat(
    name: str,
    interval_seconds: float,
    job: Callable[[], object],
    first_delay_seconds: float,
    wake: asyncio.Event,
) -> None:
    delay = first_delay_seconds
    while not await _woken_within(wake, delay):
        try:
            await asyncio.to_thread(job)
        except Exception:
            log.exception("background job %s failed; next run in %g s", name, interval_seconds)
        delay = interval_seconds


async def _woken_within(wake: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``wake``; whether it was set."""
    if seconds > 0 and not wake.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)
    return wake.is_set()
