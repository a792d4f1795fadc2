"""The only door to DuckDB: load a ``queries/<name>.sql`` file, check its parameters, run it.

Every question the dashboard or the API asks is one SQL file in ``queries/`` whose
header comment says what it answers, its parameters and its columns. :func:`run`:

* loads and caches the file, and checks at load time that the ``-- Parameters:``
  header lists exactly the ``$names`` the SQL uses;
* takes the parameters the request context supplies from a :class:`Scope` (``$files``
  — the Parquet files of the UTC days the period overlaps, never a glob of the lake —
  ``$start``, ``$end``, ``$tz`` and one ``$filter_<dimension>`` per dimension) plus
  the caller's own, and rejects a missing or an unused one;
* binds everything as DuckDB ``$named`` parameters: no value is ever spliced in;
* runs on a per-thread DuckDB connection with a time limit (the connection is
  interrupted), and off the event loop in :func:`run_async`;
* for a paginated query (one declaring ``$limit``), asks for ``limit + 1`` rows and
  turns the extra row into ``has_more``;
* answers without a damaged file: it is quarantined (:mod:`pagepulse.lake.quarantine`)
  and the files are listed again.

Two kinds of query. One that reads ``read_parquet($files)`` works on the lake
directly. Any other reads the *scope tables* (``scope_minutes``, ``scope_groups``,
``scope_strings``; see :mod:`pagepulse.query.scopes`): Arrow tables of sums built for
one (site, period, filters) from the sessionised UTC days of
:mod:`pagepulse.query.days` (read from the visits files compaction writes, or built
from the events of a day that has none yet), registered on the connection. Days'
sums are cached across requests (keyed by their files); a scope's tables are shared
by every thread for a short while, so the ~20 lazily loaded widgets of one dashboard
view build them once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import heapq
import itertools
import re
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow.parquet as pq

from pagepulse.lake import quarantine
from pagepulse.lake.layout import partition_files
from pagepulse.lake.schema import EVENT_SCHEMA
from pagepulse.query import process as query_process
from pagepulse.query import scopes
from pagepulse.query.days import DayStore
from pagepulse.query.filters import Filter, filter_params
from pagepulse.query.periods import Period, local_today

QUERIES_DIR = Path(__file__).resolve().parents[2] / "queries"
MACROS = "_macros"
# Queries the scope builder runs itself (no widget reads them).
SCOPE_QUERIES = ("filter_values",)
DEFAULT_TIMEOUT_S = 30.0
LIST_ATTEMPTS = 3
# DuckDB frees a query's buffers but keeps a little of their bookkeeping in its
# database until it purges its eviction queue now and then: a few KiB per query that
# reads Parquet, which a server asked every second grows by megabytes a minute. A
# thread's connection (an in-memory database of its own) is replaced after this many
# calls (about 30 ms to make), which hands all of it back.
CALLS_PER_CONNECTION = 250
# Benchmarks turn this off: they time the queries, not the memory of their answers.
REMEMBER_ANSWERS = True

_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")
_QUERY_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class QueryError(Exception):
    """A query file is malformed, or was called with the wrong parameters."""


class QueryTimeout(QueryError):
    """The query ran past its time limit and was interrupted."""


@dataclass(frozen=True, slots=True)
class QueryFile:
    name: str
    sql: str
    summary: str
    parameters: frozenset[str]

    @property
    def paginated(self) -> bool:
        return "limit" in self.parameters

    @property
    def reads_lake(self) -> bool:
        return "files" in self.parameters


@dataclass(frozen=True, slots=True)
class Result:
    rows: list[dict[str, Any]]
    has_more: bool = False


@dataclass(frozen=True, slots=True)
class Scope:
    """What a dashboard request looks at: one site's events over a local period, filtered.

    ``since`` / ``until`` (UTC, optional) keep only the events in ``[since, until)``
    before anything else: visits are made of those events alone. Realtime uses them
    (see :meth:`last_minutes`) with a period of the local days they span.
    """

    events_dir: Path
    site_id: int
    period: Period
    filters: tuple[Filter, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    @classmethod
    def last_minutes(
        cls,
        events_dir: Path,
        site_id: int,
        timezone: str,
        minutes: int = 30,
        *,
        filters: tuple[Filter, ...] = (),
        now: dt.datetime | None = None,
    ) -> Scope:
        """The realtime scope: events of the last ``minutes`` minutes up to ``now``."""
        now = now or dt.datetime.now(dt.UTC)
        since = now - dt.timedelta(minutes=minutes)
        period = Period(local_today(timezone, since), local_today(timezone, now), timezone)
        return cls(events_dir, site_id, period, filters, since, now)

    def files(self) -> list[Path]:
        return partition_files(self.events_dir, self.site_id, self.period.utc_days())

    def files_by_day(self) -> dict[dt.date, list[Path]]:
        """The files of each UTC day that has any (a day is sessionised on its own)."""
        days = {day: partition_files(self.events_dir, self.site_id, [day]) for day in self._days()}
        return {day: paths for day, paths in days.items() if paths}

    def with_period(self, period: Period) -> Scope:
        return Scope(self.events_dir, self.site_id, period, self.filters, self.since, self.until)

    def previous(self) -> Scope:
        """The comparison scope: the range of equal length just before this one."""
        if self.since is None:
            return self.with_period(self.period.previous())
        until = self.until or dt.datetime.now(dt.UTC)
        length = until - self.since
        since, until = self.since - length, self.since
        tz = self.period.timezone
        period = Period(local_today(tz, since), local_today(tz, until), tz)
        return Scope(self.events_dir, self.site_id, period, self.filters, since, until)

    @property
    def start(self) -> dt.datetime:
        """The first instant counted: the period's start, or ``since`` if later."""
        return max(self.period.utc_start, self.since or self.period.utc_start)

    @property
    def end(self) -> dt.datetime:
        """Exclusive: the period's end, or ``until`` if earlier."""
        return min(self.period.utc_end, self.until or self.period.utc_end)

    def params(self, files: list[Path]) -> dict[str, Any]:
        # A range without files still runs every query, on an empty stand-in file:
        # read_parquet() refuses an empty list, and empty results then need no
        # special case anywhere (zero-filled timeseries, zero top stats).
        paths = [str(path) for path in files] or [str(_empty_events_file())]
        return {
            "files": paths,
            "start": self.start,
            "end": self.end,
            "tz": self.period.timezone,
            **filter_params(self.filters),
        }

    def _days(self) -> list[dt.date]:
        last = (self.end - dt.timedelta(microseconds=1)).date()
        return [day for day in self.period.utc_days() if self.start.date() <= day <= last]


def query_names() -> list[str]:
    """Every query file but the ``_``-prefixed helpers."""
    return sorted(p.stem for p in QUERIES_DIR.glob("*.sql") if not p.stem.startswith("_"))


@functools.cache
def load(name: str) -> QueryFile:
    if not _QUERY_NAME.match(name):
        raise QueryError(f"bad query name {name!r}")
    path = QUERIES_DIR / f"{name}.sql"
    if not path.is_file():
        raise QueryError(f"no query file {path}")
    sql = path.read_text()
    header = _header(sql)
    if not header or not header[0].startswith(f"{name}: "):
        raise QueryError(f"{path.name} must start with '-- {name}: <what it answers>'")
    declared = _declared_parameters(header, path.name)
    body = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
    used = set(_PARAM.findall(body))
    if used != declared:
        raise QueryError(
            f"{path.name}: parameters used {sorted(used)} but declared {sorted(declared)}"
        )
    return QueryFile(name, sql, header[0].split(": ", 1)[1], frozenset(declared))


def run(
    name: str,
    scope: Scope | None = None,
    *,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    **params: Any,
) -> Result:
    """Run ``queries/<name>.sql`` on this thread's connection and return its rows (in the
    query process while a server runs one: :mod:`pagepulse.query.process`)."""
    remote = query_process.active()
    if remote is not None:
        return remote.call("run", (name, scope), {"timeout": timeout, **params}, timeout=timeout)
    query = load(name)
    connection = _connection_for_a_call()
    with _time_limit(connection, timeout):
        if scope is None:
            return _execute(connection, query, {}, params)
        for attempt in range(1, LIST_ATTEMPTS + 1):
            try:
                return _run_on_files(connection, query, scope, scope.files(), params)
            except (FileNotFoundError, FilesChanged):
                # A listed file was compacted away or quarantined meanwhile: list again.
                if attempt == LIST_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")


class FilesChanged(Exception):
    """Files of the lake changed under a query (a damaged one was quarantined)."""


def _run_on_files(
    connection: duckdb.DuckDBPyConnection,
    query: QueryFile,
    scope: Scope,
    files: list[Path],
    params: Mapping[str, Any],
) -> Result:
    context = scope.params(files)
    if not query.reads_lake:
        tables = _prepare_scope(connection, scope, files)
        # The tables stand for the scope and its files as they are: a question asked
        # of them again (the next refresh of the same dashboard) has the same answer.
        if not REMEMBER_ANSWERS:
            return _execute(connection, query, context, params)
        asked = (query.name, repr(sorted(params.items())))
        answer = tables.answers.get(asked)
        if answer is None:
            answer = tables.answers[asked] = _execute(connection, query, context, params)
        return Result([dict(row) for row in answer.rows], answer.has_more)
    try:
        return _execute(connection, query, context, params)
    except duckdb.InterruptException:
        raise
    except duckdb.Error as exc:
        # DuckDB does not say which file it could not read: check each, set bad ones aside.
        if quarantine.sweep(files):
            raise FilesChanged(f"{query.name}: a damaged file was quarantined") from exc
        raise


async def run_async(
    name: str, scope: Scope | None = None, *, timeout: float | None = DEFAULT_TIMEOUT_S, **params
) -> Result:
    """:func:`run` on the query thread pool, so the event loop never waits on DuckDB."""
    call = functools.partial(run, name, scope, timeout=timeout, **params)
    return await asyncio.get_running_loop().run_in_executor(executor(), call)


@functools.cache
def executor() -> ThreadPoolExecutor:
    # DuckDB already spreads one query over every core; a few threads let short
    # queries pass a long one without oversubscribing the machine.
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="pagepulse-query")


def _execute(
    connection: duckdb.DuckDBPyConnection,
    query: QueryFile,
    context: Mapping[str, Any],
    given: Mapping[str, Any],
) -> Result:
    overlap = set(given) & set(context)
    if overlap:
        raise QueryError(f"{query.name}: {sorted(overlap)} come from the scope, not the caller")
    unused = set(given) - query.parameters
    if unused:
        raise QueryError(f"{query.name}: unused parameters {sorted(unused)}")
    available = {**context, **given}
    missing = query.parameters - set(available)
    if missing:
        raise QueryError(f"{query.name}: missing parameters {sorted(missing)}")
    bound = {key: available[key] for key in query.parameters}
    if query.paginated:
        limit = bound["limit"]
        if not isinstance(limit, int) or limit < 1 or bound.get("offset", 0) < 0:
            raise QueryError(f"{query.name}: limit must be >= 1 and offset >= 0")
        bound["limit"] = limit + 1
    cursor = connection.execute(query.sql, bound)
    if cursor.description is None:
        return Result([])
    columns = [column[0] for column in cursor.description]
    rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    if query.paginated and len(rows) > given["limit"]:
        return Result(rows[: given["limit"]], has_more=True)
    return Result(rows)


@dataclass
class _ConnectionState:
    connection: duckdb.DuckDBPyConnection
    tables: scopes.ScopeTables | None = None
    calls: int = 0


_local = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    return _state().connection


def _connection_for_a_call() -> duckdb.DuckDBPyConnection:
    """This thread's connection, a new one every ``CALLS_PER_CONNECTION`` calls (only
    here, where a call starts: within one, every step uses the same connection)."""
    state = _state()
    if state.calls >= CALLS_PER_CONNECTION:
        state.connection.close()
        _local.state = None
        state = _state()
    state.calls += 1
    return state.connection


def _state() -> _ConnectionState:
    state = getattr(_local, "state", None)
    if state is None:
        connection = duckdb.connect(
            config={
                # Rows come back in ORDER BY order anyway; not keeping insertion order
                # makes building the scope tables markedly faster.
                "preserve_insertion_order": False,
            }
        )
        # Timestamps come back as UTC whatever the server's zone (local times are
        # made explicitly, with the site's timezone).
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute("SET enable_progress_bar = false")
        connection.execute(load_macros())
        state = _local.state = _ConnectionState(connection)
    return state


@functools.cache
def load_macros() -> str:
    return (QUERIES_DIR / f"{MACROS}.sql").read_text()


# Process-wide: sessionised days and their sums (bounded by bytes, keyed by files), and
# recent scopes.
day_store = DayStore()
scope_cache = scopes.ScopeCache()


def _prepare_scope(
    connection: duckdb.DuckDBPyConnection, scope: Scope, files: list[Path]
) -> scopes.ScopeTables:
    # Appends land in new files (and compaction replaces files), so names, sizes and
    # mtimes tell whether tables built earlier still hold. The day after the period
    # counts too: its first minutes may continue the period's last visits.
    after = scope.period.utc_days()[-1] + dt.timedelta(days=1)
    inputs = [*files, *partition_files(scope.events_dir, scope.site_id, [after])]
    key = (scope, tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in inputs))
    tables = scope_cache.get(key, lambda: scopes.build(scope, _match, day_store), family=scope)
    state = _state()
    if state.tables is not tables:
        state.tables = None
        for name, table in tables.named().items():
            connection.register(name, table)
        state.tables = tables
    return tables


def _match(values: list[str], struct: dict[str, Any]) -> np.ndarray:
    """Which ``values`` a dimension filter keeps, by the ``matches_filter`` macro."""
    rows = _execute(_connection(), load("filter_values"), {}, {"values": values, "filter": struct})
    keep = np.zeros(len(values), bool)
    for row in rows.rows:
        keep[row["i"]] = bool(row["keep"])
    return keep


def clear_caches() -> None:
    """Forget sessionised days and scopes (tests; benchmarks of a cold start)."""
    remote = query_process.active()
    if remote is not None:
        remote.call(query_process.CLEAR_CACHES, timeout=None)
    scope_cache.clear()
    day_store.clear()
    _state().tables = None


class _Deadlines:
    """One thread that interrupts connections whose query runs past its deadline (a
    ``threading.Timer`` per query started and stopped a thread for every widget)."""

    def __init__(self) -> None:
        self._heap: list[list[Any]] = []  # [deadline, order, connection or None]
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, seconds: float, connection: duckdb.DuckDBPyConnection) -> list[Any]:
        entry = [time.monotonic() + seconds, next(self._order), connection]
        with self._wake:
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="pagepulse-query-deadlines", daemon=True
                )
                self._thread.start()
            elif self._heap[0] is entry:
                self._wake.notify()
        return entry

    def cancel(self, entry: list[Any]) -> None:
        with self._wake:
            entry[2] = None

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][2] is None:
                    heapq.heappop(self._heap)
                wait = self._heap[0][0] - time.monotonic() if self._heap else None
                if wait is None or wait > 0:
                    self._wake.wait(wait)
                    continue
                # Under the lock: a query that ends meanwhile cancels first, so the
                # connection's next query is never interrupted for it.
                heapq.heappop(self._heap)[2].interrupt()


_deadlines = _Deadlines()


class _time_limit:
    """Interrupt the connection when the block runs past ``timeout`` seconds."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, timeout: float | None) -> None:
        self.connection = connection
        self.timeout = timeout
        self.entry: list[Any] | None = None

    def __enter__(self) -> None:
        if self.timeout:
            self.entry = _deadlines.add(self.timeout, self.connection)

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: Any) -> None:
        if self.entry is not None:
            _deadlines.cancel(self.entry)
        if isinstance(exc, duckdb.InterruptException):
            raise QueryTimeout(f"query interrupted after {self.timeout:.1f}s") from exc


@functools.cache
def _empty_events_file() -> Path:
    path = Path(tempfile.mkdtemp(prefix="pagepulse-empty-")) / "empty.parquet"
    pq.write_table(EVENT_SCHEMA.empty_table(), path)
    return path


def _header(sql: str) -> list[str]:
    """The leading comment block, one entry per line, ``-- `` stripped."""
    lines = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line[2:].strip())
    return lines


def _declared_parameters(header: list[str], filename: str) -> set[str]:
    text = "\n".join(header)
    match = re.search(r"^Parameters:(.*?)^Columns:", text, re.MULTILINE | re.DOTALL)
    if not match or "Columns:" not in text:
        raise QueryError(f"{filename}: header needs 'Parameters:' then 'Columns:' lines")
    return set(_PARAM.findall(match.group(1)))
