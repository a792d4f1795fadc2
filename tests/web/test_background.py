"""``background.periodic``: the loop behind the server's repeated jobs (email reports,
domain re-checks, overuse flags, housekeeping), run on a real event loop and threads."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import pytest

from pagepulse.web.background import periodic


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_runs_at_once_then_again_after_each_interval_on_a_thread() -> None:
    threads: list[int] = []

    async def main() -> None:
        async with periodic("test-job", 0.05, lambda: threads.append(threading.get_ident())):
            await until(lambda: len(threads) >= 3)

    asyncio.run(main())
    assert threading.get_ident() not in threads  # never on the event loop's thread


def test_the_first_run_waits_for_first_delay_and_exit_does_not_wait_for_it() -> None:
    runs: list[float] = []

    async def main() -> float:
        async with periodic("test-job", 0.01, lambda: runs.append(1), first_delay_seconds=3600):
            await asyncio.sleep(0.3)
            leaving = time.monotonic()
        return time.monotonic() - leaving

    took = asyncio.run(main())
    assert runs == []
    assert took < 2.0  # the wait ends at once, not after an hour


def test_exit_ends_the_wait_between_two_runs() -> None:
    runs: list[int] = []

    async def main() -> float:
        async with periodic("test-job", 3600, lambda: runs.append(1)):
            await until(lambda: runs == [1])
            leaving = time.monotonic()
        return time.monotonic() - leaving

    assert asyncio.run(main()) < 2.0
    assert runs == [1]


def test_a_failing_run_is_logged_and_the_next_one_comes(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def job() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("SMTP said no")

    async def main() -> None:
        async with periodic("test-job", 0.01, job):
            await until(lambda: len(calls) >= 3)

    with caplog.at_level(logging.ERROR, logger="pagepulse.background"):
        asyncio.run(main())
    [record] = [r for r in caplog.records if r.name == "pagepulse.background"]
    assert record.getMessage() == "background job test-job failed; next run in 0.01 s"
    assert record.exc_info is not None and "SMTP said no" in str(record.exc_info[1])


def test_exit_lets_a_run_finish_and_tells_it_to_stop() -> None:
    stopping = threading.Event()
    started = threading.Event()
    steps: list[str] = []

    def job() -> None:  # a job of many steps, as the domain re-checks are
        started.set()
        while not stopping.wait(0.01):
            pass
        steps.append("stopped between two steps")

    async def main() -> None:
        async with periodic("test-job", 3600, job, stopping=stopping):
            await asyncio.to_thread(started.wait, 10)
        # Leaving the block waited for the run in progress.
        steps.append("block left")

    asyncio.run(main())
    assert steps == ["stopped between two steps", "block left"]
