"""The server's queries in a process of their own, so that they never stall ingestion.

A server worker answers beacons on its event loop. Sessionising today's events and
building a scope are Python and numpy work: on threads of the worker they hold its GIL
and compete for its CPU, and a beacon waits behind them. While a server runs
(:func:`running`, a lifespan hook), :func:`pagepulse.query.runner.run` hands every call
to a query process instead: a spawned child, started with the worker, that

* runs calls on a few threads of its own (short queries pass a long one);
* keeps the caches of sessionised days and scopes (one copy, built once);
* runs at the lowest CPU priority: on a busy machine a beacon's latency matters more
  than a dashboard's, and an idle machine gives the dashboard every core anyway;
* leaves when the worker closes its end of the pipe, or dies (the kernel closes it);
* gives the memory a burst of calls freed back to the system when it falls idle
  (:mod:`pagepulse.memory`).

Queries run in the calling process everywhere else (the CLI, the query layer's tests,
benchmarks). Why not ``concurrent.futures.ProcessPoolExecutor``: its workers run one
call at a time and each would keep caches of its own.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from pagepulse.memory import give_back_memory, keep_malloc_compact

log = logging.getLogger("pagepulse.query")

THREADS = 4
NICENESS = 19  # the lowest priority (see the module docstring)
# The child enforces each query's time limit itself; the caller gives up this much later.
REPLY_GRACE_S = 30.0
CLEAR_CACHES = "clear caches"
GIVE_BACK_EVERY_S = 10.0


class QueryProcessDied(Exception):
    """The query process ended with calls in flight (it is started again on the next)."""


class QueryProcess:
    """A child process that runs ``runner.run`` calls; thread-safe, started on first use."""

    def __init__(self, threads: int = THREADS, niceness: int = NICENESS) -> None:
        self.threads = threads
        self.niceness = niceness
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None
        self._pending: dict[int, Future] = {}
        self._ids = itertools.count()

    def call(
        self, function: str, args: tuple = (), kwargs: dict | None = None, *, timeout: float | None
    ) -> Any:
        """``runner.<function>(*args, **kwargs)`` in the child: its answer, or its exception
        raised here. ``timeout``: the call's own limit, which the child enforces."""
        future: Future = Future()
        with self._lock:
            connection = self._ensure_started()
            call_id = next(self._ids)
            self._pending[call_id] = future
        try:
            with self._send_lock:
                connection.send((call_id, function, args, kwargs or {}))
        except (OSError, ValueError) as exc:
            self._fail_pending(connection, exc)
        wait = None if timeout is None else timeout + REPLY_GRACE_S
        return future.result(wait)

    def start(self) -> None:
        """Start the child now rather than on the first call (its imports take a while)."""
        with self._lock:
            self._ensure_started()

    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def close(self) -> None:
        with self._lock:
            process, connection = self._process, self._connection
            self._process = self._connection = None
        if connection is not None:
            connection.close()  # the child sees EOF and leaves
        if process is not None:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()

    def _ensure_started(self) -> Connection:
        if self._connection is not None and self._process and self._process.is_alive():
            return self._connection
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, self.threads, self.niceness),
            name="pagepulse-queries",
            daemon=True,
        )
        process.start()
        theirs.close()
        self._process, self._connection = process, ours
        threading.Thread(
            target=self._read, args=(ours,), name="pagepulse-query-replies", daemon=True
        ).start()
        return ours

    def _read(self, connection: Connection) -> None:
        while True:
            try:
                call_id, ok, payload = connection.recv()
            except (EOFError, OSError) as exc:
                self._fail_pending(connection, exc)
                return
            with self._lock:
                future = self._pending.pop(call_id, None)
            if future is None:
                continue
            if ok:
                future.set_result(payload)
            else:
                future.set_exception(payload)

    def _fail_pending(self, connection: Connection, cause: BaseException) -> None:
        with self._lock:
            if self._connection is connection:
                self._connection = None
            pending, self._pending = self._pending, {}
        if pending:
            log.error("query process ended with %d calls in flight: %r", len(pending), cause)
        for future in pending.values():
            if not future.done():
                future.set_exception(QueryProcessDied("the query process ended; try again"))


# -- the child ---------------------------------------------------------------------------


def _serve(connection: Connection, threads: int, niceness: int) -> None:
    with contextlib.suppress(OSError):
        os.nice(niceness)
    keep_malloc_compact()
    from pagepulse.query import runner  # after the priority is set: imports take a while

    functions: dict[str, Callable[..., Any]] = {
        "run": runner.run,
        CLEAR_CACHES: runner.clear_caches,
    }
    send_lock = threading.Lock()
    idle = _Idle()

    def answer(call_id: int, function: str, args: tuple, kwargs: dict) -> None:
        try:
            reply: tuple[int, bool, Any] = (call_id, True, functions[function](*args, **kwargs))
        except Exception as exc:  # the caller gets it raised
            reply = (call_id, False, _picklable(exc))
        with send_lock, contextlib.suppress(OSError, ValueError):
            connection.send(reply)
        if idle.finished():
            give_back_memory()

    pool = ThreadPoolExecutor(threads, thread_name_prefix="pagepulse-query")
    while True:
        try:
            call_id, function, args, kwargs = connection.recv()
        except (EOFError, OSError):
            # The worker closed its end or died (the kernel closed it): nobody waits
            # for the calls in flight.
            os._exit(0)
        idle.started()
        pool.submit(answer, call_id, function, args, kwargs)


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        from pagepulse.query.runner import QueryError

        return QueryError(f"{type(exc).__name__}: {exc}")
    return exc


# -- the server's switch -------------------------------------------------------------------

_active: QueryProcess | None = None


def active() -> QueryProcess | None:
    """The process this server worker's queries go to, if any."""
    return _active


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[QueryProcess]:
    """Send this process's queries to a query process while the block runs."""
    global _active
    process = QueryProcess()
    process.start()
    _active = process
    try:
        yield process
    finally:
        _active = None
        process.close()


class _Idle:
    """Counts the calls in flight: :meth:`finished` is true when the last one ends and
    memory was not given back for ``GIVE_BACK_EVERY_S``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._last = 0.0

    def started(self) -> None:
        with self._lock:
            self._running += 1

    def finished(self) -> bool:
        with self._lock:
            self._running -= 1
            now = time.monotonic()
            if self._running or now - self._last < GIVE_BACK_EVERY_S:
                return False
            self._last = now
            return True
