"""The query process: a server's queries run in a child, with the same answers and errors;
and the caches drop a day's or a scope's superseded versions as soon as new ones exist."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import time
from pathlib import Path

import pytest

from pagepulse.query import Period, QueryError, Scope, run, runner
from pagepulse.query import process as query_process
from pagepulse.query.days import DayStore, sources
from pagepulse.query.process import QueryProcess, QueryProcessDied
from pagepulse.query.scopes import ScopeCache
from tests.query.helpers import event, write_events

T0 = dt.datetime(2025, 6, 10, 12, 0, tzinfo=dt.UTC)


def _lake(events_dir: Path, visitors: int = 3) -> Path:
    write_events(
        events_dir,
        1,
        [event(T0 + dt.timedelta(minutes=i), i, pathname=f"/p{i}") for i in range(visitors)],
    )
    return events_dir


def _scope(events_dir: Path) -> Scope:
    return Scope(events_dir, 1, Period(T0.date(), T0.date(), "UTC"))


@pytest.fixture
def child() -> QueryProcess:
    process = QueryProcess()
    process.start()
    yield process
    process.close()


def test_a_call_in_the_child_answers_as_in_this_process(tmp_path: Path, child) -> None:
    scope = _scope(_lake(tmp_path / "events"))
    local = run("top_stats", scope)
    remote = child.call("run", ("top_stats", scope), {}, timeout=30)
    assert remote == local
    assert remote.rows[0]["visitors"] == 3
    assert child.pid() not in (None, os.getpid())
    # Errors come back as themselves.
    with pytest.raises(QueryError, match="no query file"):
        child.call("run", ("no_such_query", scope), {}, timeout=30)
    with pytest.raises(QueryError, match="unused parameters"):
        child.call("run", ("top_stats", scope), {"bogus": 1}, timeout=30)


def test_the_child_runs_at_the_lowest_priority(child) -> None:
    pid = child.pid()
    assert pid is not None
    child.call(query_process.CLEAR_CACHES, timeout=30)  # the child is serving by now
    assert os.getpriority(os.PRIO_PROCESS, pid) == query_process.NICENESS == 19


def test_a_dead_child_fails_the_call_and_the_next_call_starts_a_new_one(
    tmp_path: Path, child
) -> None:
    scope = _scope(_lake(tmp_path / "events"))
    first = child.pid()
    assert first is not None
    os.kill(first, signal.SIGKILL)
    with pytest.raises(QueryProcessDied):
        for _ in range(50):  # until the reply thread has seen the pipe close
            child.call("run", ("top_stats", scope), {}, timeout=30)
            asyncio.run(asyncio.sleep(0.05))
    assert child.call("run", ("top_stats", scope), {}, timeout=30).rows[0]["visitors"] == 3
    assert child.pid() not in (None, first)


def test_the_child_leaves_when_the_worker_closes_its_pipe(child) -> None:
    pid = child.pid()
    assert pid is not None
    child.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_while_running_every_run_goes_to_the_child(tmp_path: Path) -> None:
    scope = _scope(_lake(tmp_path / "events"))
    runner.clear_caches()

    async def in_server() -> tuple[int, int]:
        async with query_process.running() as process:
            assert query_process.active() is process
            answer = run("top_stats", scope).rows[0]["visitors"]
            # The days were sessionised over there, not here.
            return answer, len(runner.day_store.sums) + len(runner.day_store.days)

    visitors, cached_here = asyncio.run(in_server())
    assert visitors == 3 and cached_here == 0
    assert query_process.active() is None
    assert run("top_stats", scope).rows[0]["visitors"] == 3
    assert len(runner.day_store.sums) + len(runner.day_store.days) > 0


def test_a_days_new_version_replaces_the_old_one_in_the_caches(tmp_path: Path) -> None:
    # Today's files change at every flush: a long-running server must not keep every
    # version of today until the byte bound pushes them out.
    events_dir = _lake(tmp_path / "events")
    store = DayStore()
    versions = []
    for round_ in range(4):
        source = sources(events_dir, 1, [T0.date()])[T0.date()]
        versions.append(source.key)
        store.whole_sums(source, None, "UTC")
        # One version of the day's sums, of its own visits and of the day as counted.
        assert (len(store.sums), len(store.days)) == (1, 2), round_
        write_events(events_dir, 1, [event(T0 + dt.timedelta(hours=1), 100 + round_)])
    assert len(set(versions)) == 4


def test_a_scopes_new_version_replaces_the_old_one(tmp_path: Path) -> None:
    scope = _scope(_lake(tmp_path / "events"))
    cache = ScopeCache()
    built = []

    def make(n: int):
        def build():
            tables = runner.scopes.build(scope, runner._match, DayStore())
            built.append(n)
            return tables

        return build

    first = cache.get((scope, 1), make(1), family=scope)
    assert cache.get((scope, 1), make(2), family=scope) is first  # cached
    cache.get((scope, 2), make(3), family=scope)  # the files changed
    other = Scope(scope.events_dir, 2, scope.period)
    cache.get((other, 1), make(4), family=other)
    assert built == [1, 3, 4]
    assert len(cache) == 2  # the scope's first version is gone, the other scope stays
    assert (
        cache.nbytes
        == sum(tables.nbytes for tables in (cache.get((scope, 2), make(5), family=scope),))
        + cache.get((other, 1), make(6), family=other).nbytes
    )


def test_a_question_asked_again_of_unchanged_files_is_answered_from_memory(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(runner, "REMEMBER_ANSWERS", True)  # benchmarks turn it off
    events_dir = _lake(tmp_path / "events")
    scope = _scope(events_dir)
    runner.clear_caches()
    first = run("top_stats", scope)
    first.rows[0]["visitors"] = -1  # a caller's change stays with the caller
    again = run("top_stats", scope)
    assert again.rows[0]["visitors"] == 3
    (tables,) = [entry[1] for entry in runner.scope_cache._entries.values()]
    assert [name for name, _ in tables.answers] == ["top_stats"]
    # New files are a new scope version: counted afresh.
    write_events(events_dir, 1, [event(T0 + dt.timedelta(hours=2), 77)])
    assert run("top_stats", scope).rows[0]["visitors"] == 4


def test_a_server_runs_its_queries_and_helpers_behind_its_requests(tmp_path: Path) -> None:
    # The worker answers beacons at normal priority; the query process at the lowest,
    # the Parquet publisher and compaction behind it (pagepulse bench load: ingestion
    # p99 with a dashboard refreshed every second).
    from tests.support.server import Server, _children

    server = Server(tmp_path / "data").start()
    try:
        deadline = time.monotonic() + 30
        niceness: list[int] = []
        while time.monotonic() < deadline:
            niceness = sorted(
                nice for pid in _children(server.proc.pid) if (nice := _niceness(pid)) is not None
            )
            if 19 in niceness and 10 in niceness:
                break
            time.sleep(0.2)
        assert 19 in niceness and 10 in niceness, niceness
        assert os.getpriority(os.PRIO_PROCESS, server.proc.pid) == 0
        children = _children(server.proc.pid)
    finally:
        server.stop()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def _niceness(pid: int) -> int | None:
    # A helper may leave between being listed and being asked (compaction's does after each run).
    try:
        return os.getpriority(os.PRIO_PROCESS, pid)
    except ProcessLookupError:
        return None


GIVE_BACK = """
import numpy as np, pyarrow as pa
from pagepulse.memory import give_back_memory
def rss_mib():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) // 1024
chunks = [pa.array(np.arange(100_000) % 97).dictionary_encode() for _ in range(800)]
whole = pa.chunked_array(chunks).combine_chunks()
del chunks, whole
held = rss_mib()
give_back_memory()
print(held, rss_mib())
"""


def test_memory_freed_by_a_burst_of_queries_goes_back_to_the_system() -> None:
    # Arrow's allocator keeps what a big build freed; the query process hands it back
    # when it falls idle, or one build after a compaction would stay in its RSS.
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", GIVE_BACK], capture_output=True, text=True, check=True
    ).stdout
    held, after = map(int, out.split())
    assert held - after > 300, (held, after)


def test_memory_is_given_back_when_the_last_call_ends_and_not_too_often(monkeypatch) -> None:
    idle = query_process._Idle()
    idle.started()
    idle.started()
    assert not idle.finished()  # one still runs
    assert idle.finished()
    idle.started()
    assert not idle.finished()  # given back less than GIVE_BACK_EVERY_S ago
    monkeypatch.setattr(query_process, "GIVE_BACK_EVERY_S", 0.0)
    idle.started()
    assert idle.finished()


def test_a_threads_connection_is_replaced_after_its_calls(tmp_path: Path, monkeypatch) -> None:
    # DuckDB keeps a little of every query's bookkeeping until it purges its eviction
    # queue, which a small database seldom does: a fresh connection hands it all back.
    import threading

    import duckdb

    monkeypatch.setattr(runner, "CALLS_PER_CONNECTION", 3)
    monkeypatch.setattr(runner, "REMEMBER_ANSWERS", False)
    scope = _scope(_lake(tmp_path / "events"))
    window = {"since": T0 - dt.timedelta(hours=1), "until": T0 + dt.timedelta(hours=1)}
    connections: list[duckdb.DuckDBPyConnection] = []
    answers: list[tuple[int, int]] = []

    def calls() -> None:  # a thread of its own: a connection of its own
        for _ in range(7):
            top = run("top_stats", scope).rows[0]["visitors"]  # the scope's registered tables
            connections.append(runner._connection())
            current = run("current_visitors", scope, **window).rows[0]["visitors"]  # the files
            answers.append((top, current))

    thread = threading.Thread(target=calls)
    thread.start()
    thread.join()
    assert answers == [(3, 3)] * 7
    # Two calls per round, three calls per connection: rounds 1-2, 2-3, 4-5, 5-6, 7.
    distinct = list(dict.fromkeys(id(connection) for connection in connections))
    assert len(distinct) == 5, distinct
    for old in connections[:-1]:
        if old is not connections[-1]:
            with pytest.raises(duckdb.ConnectionException):
                old.execute("SELECT 1")


# glibc's counters, for the scripts below (run alone: a fresh process's heap).
MALLINFO = """
import ctypes

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split())]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Mallinfo2
"""

QUERIES_MEMORY = (
    MALLINFO
    + """
import ctypes, datetime as dt, sys, tempfile
from pathlib import Path
from pagepulse.query import Period, Scope, run, runner
from tests.query.helpers import event, write_events

runner.CALLS_PER_CONNECTION = int(sys.argv[1])
t0 = dt.datetime(2025, 6, 10, 12, tzinfo=dt.UTC)
events_dir = Path(tempfile.mkdtemp()) / "events"
for f in range(40):
    write_events(events_dir, 1, [event(t0 + dt.timedelta(minutes=f, seconds=i), f * 50 + i)
                                 for i in range(50)])
scope = Scope(events_dir, 1, Period(t0.date(), t0.date(), "UTC"))

def ask():
    return run("current_visitors", scope, since=t0, until=t0 + dt.timedelta(hours=1))

for _ in range(300):
    ask()
start = libc.mallinfo2().uordblks
for _ in range(1000):
    assert ask().rows[0]["visitors"] == 2000
print((libc.mallinfo2().uordblks - start) / 2**20)
"""
)


def test_a_thousand_queries_leave_no_memory_behind() -> None:
    # glibc's count of bytes in use after 1,000 queries that read 40 Parquet files: with
    # the connection renewed every CALLS_PER_CONNECTION calls it stays flat, without it
    # DuckDB's kept bookkeeping shows (if this side stops growing, the renewal can go).
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    runs = {
        calls: subprocess.Popen(
            [sys.executable, "-c", QUERIES_MEMORY, str(calls)],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for calls in (runner.CALLS_PER_CONNECTION, 10**9)
    }
    grown = {}
    for calls, process in runs.items():
        out, _ = process.communicate(timeout=300)
        assert process.returncode == 0
        grown[calls] = float(out)
    renewed, kept = grown[runner.CALLS_PER_CONNECTION], grown[10**9]
    assert renewed < 0.25 < 0.75 < kept, grown


BIG_BLOCKS = (
    MALLINFO
    + """
import ctypes, sys
import numpy as np
from pagepulse.memory import keep_malloc_compact

if sys.argv[1] == "compact":
    keep_malloc_compact()
freed = np.ones(8 << 20, np.uint8)
del freed  # by default glibc now takes blocks up to 8 MiB from its heap
before = libc.mallinfo2().hblks
kept = np.ones(2 << 20, np.uint8)
print(libc.mallinfo2().hblks - before)
"""
)


@pytest.mark.parametrize(("mode", "mapped"), [("compact", 1), ("default", 0)])
def test_the_query_process_takes_big_blocks_from_mmap(mode: str, mapped: int) -> None:
    # Its threads build and drop big arrays all the time: from the heap they leave holes
    # that its RSS keeps (the soak's memory), from mmap they go back when freed.
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", BIG_BLOCKS, mode], capture_output=True, text=True, check=True
    ).stdout
    assert int(out) == mapped
