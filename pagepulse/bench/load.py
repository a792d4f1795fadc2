"""``pagepulse bench load``: sustained ingestion while an owner watches the dashboard,
and a soak mode that watches the server's memory.

One real server (``pagepulse serve``, one uvicorn worker) on 127.0.0.1 with its own
data dir, its site seeded with ``seed_events`` of demo history (30 days) so that the
dashboard has real work. Then, after a warm-up of ``WARMUP_SECONDS`` at the same
rate (not measured), for ``seconds``:

- Ingestion, open loop. Generator processes (``processes``, each with its own event
  loop and a share of ``connections`` keep-alive connections; one is enough for
  5,000/s, and on 2 shared cores every extra process takes CPU from the server, so one
  by default) send beacon ``i`` at its
  scheduled time ``t0 + i / rate`` whether or not earlier ones were answered; a beacon
  waits for a connection only when all are busy. Latency runs from the *scheduled*
  time, so a server stall counts in full for every beacon due during it (no
  coordinated omission); percentiles are over the answered beacons, the others count
  as errors. How far behind its schedule a generator dispatched is reported too: when
  that is large, the client (or the shared machine), not the server, was behind; so is
  the server's CPU (cores kept busy), which shows when the machine starved it.
- The dashboard, every ``dashboard_interval`` seconds: a logged-in client loads
  ``/sites/<id>`` and then what htmx requests when that page loads (every element with
  ``hx-trigger="load"``: the breakdown cards), six at a time like a browser's
  connections per host. Static assets are left out (a browser has them cached). A load
  that takes longer than the interval delays the next one; loads never overlap.
- Resident memory (``VmRSS`` from ``/proc/<pid>/status``) every ``rss_interval``
  seconds, of the uvicorn worker and of all the server's processes (the worker and its
  Parquet publisher and compaction helpers).

Then the server is stopped (it publishes what its log holds) and the lake is read back
with DuckDB: every acknowledged beacon must be there.

The bar (issue 6): ingestion p99 ≤ 50 ms, and no errors: every beacon answered 202,
every dashboard request 200 without an error message, every 202 in the lake. Soak mode
adds memory growth ≤ 5 %: the median RSS of all the server's processes (the worker, its
query process, its publisher and compaction helpers) over the last minute against their
median over the second minute (the first minute is warm-up: caches fill, the helper
processes start, the first log segments are recycled); see :func:`memory_growth`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import http.cookiejar
import multiprocessing
import os
import signal
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import IO

import numpy as np
from rich.console import Console
from rich.table import Table

from pagepulse.bench.loopback import (
    BENCH_EMAIL,
    BENCH_PASSWORD,
    DOMAIN,
    ResponseReader,
    beacon_requests,
    count_events,
    cpu_seconds,
    free_port,
    prepare_site,
    process_tree,
    rss_kib,
    start_server,
    stop_server,
)

WARMUP_SECONDS = 2.0
DRAIN_SECONDS = 10.0  # how long answers may still come after the last beacon is due
BAR_P99_MS = 50.0
BAR_MEMORY_GROWTH = 0.05
MAX_EVENTS = 20_000_000  # rate × duration: bounds the run and the generators' memory
DISTINCT_BEACONS = 4096  # per generator process, sent round robin
MIN_SLEEP = 0.001  # the shortest sleep uvloop's timers do not round down to zero
BROWSER_CONNECTIONS = 6  # what browsers open per host over HTTP/1.1
HISTORY_TIMEZONE = "Europe/Berlin"

NO_ANSWER = 0  # status codes the generators record besides HTTP's
CONNECTION_LOST = -1


# Ingestion: the open-loop generator (runs in its own processes) -----------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """Generator ``index`` of ``processes`` sends beacons index, index + processes, …
    of the ``total`` (warm-up included), beacon ``i`` at ``t0 + i / rate``."""

    port: int
    index: int
    processes: int
    rate: float
    total: int
    connections: int

    @property
    def own(self) -> int:
        return len(range(self.index, self.total, self.processes))


class _Sender:
    """One generator's schedule, connection pool and per-beacon results."""

    def __init__(self, plan: _Plan):
        self.plan = plan
        self.requests = beacon_requests(DISTINCT_BEACONS, plan.port, seed=plan.index)
        self.latency_ms = np.full(plan.own, np.nan, np.float32)  # answer - scheduled
        self.lag_ms = np.full(plan.own, np.nan, np.float32)  # dispatched - scheduled
        self.status = np.full(plan.own, NO_ANSWER, np.int16)
        self.connections: set[_Beacon] = set()
        self.idle: deque[_Beacon] = deque()  # FIFO, so none idles past keep-alive
        self.backlog: deque[int] = deque()
        self.finished = 0
        self.closing = False
        self.reconnecting: set[asyncio.Future] = set()
        self.t0 = 0.0

    def scheduled(self, j: int) -> float:
        return self.t0 + (self.plan.index + j * self.plan.processes) / self.plan.rate

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):  # the server is gone: the backlog stays unsent
            await loop.create_connection(lambda: _Beacon(self), "127.0.0.1", self.plan.port)

    def dispatch(self, j: int) -> None:
        self.lag_ms[j] = (time.monotonic() - self.scheduled(j)) * 1000
        if self.idle:
            self._send(self.idle.popleft(), j)
        else:
            self.backlog.append(j)

    def _send(self, conn: _Beacon, j: int) -> None:
        conn.send(j, self.requests[j % len(self.requests)])

    def ready(self, conn: _Beacon) -> None:
        if self.backlog:
            self._send(conn, self.backlog.popleft())
        else:
            self.idle.append(conn)

    def answered(self, conn: _Beacon, j: int, status: bytes) -> None:
        self.latency_ms[j] = (time.monotonic() - self.scheduled(j)) * 1000
        self.status[j] = int(status) if status.isdigit() else CONNECTION_LOST
        self.finished += 1
        self.ready(conn)

    def lost(self, conn: _Beacon) -> None:
        """The server closed a connection: its beacon in flight failed; replace it."""
        self.connections.discard(conn)
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)
        if self.closing:  # the run is over: what is still in flight stays unanswered
            return
        if conn.current >= 0:
            self.status[conn.current] = CONNECTION_LOST
            self.finished += 1
        task = asyncio.ensure_future(self.connect())
        self.reconnecting.add(task)  # a reference, so the task is not collected early
        task.add_done_callback(self.reconnecting.discard)


class _Beacon(ResponseReader):
    """One keep-alive connection of a generator: one beacon in flight at a time."""

    def __init__(self, sender: _Sender):
        super().__init__()
        self.sender = sender
        self.current = -1

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.sender.connections.add(self)
        self.sender.ready(self)

    def send(self, j: int, request: bytes) -> None:
        self.current = j
        assert self.transport is not None
        self.transport.write(request)

    def response_received(self, status: bytes) -> None:
        j, self.current = self.current, -1
        if j >= 0:
            self.sender.answered(self, j, status)

    def connection_lost(self, exc) -> None:
        super().connection_lost(exc)
        self.sender.lost(self)


async def _send_all(pipe, plan: _Plan) -> _Sender:
    sender = _Sender(plan)
    await asyncio.gather(*(sender.connect() for _ in range(plan.connections)))
    pipe.send("ready")
    sender.t0 = await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
    j, own = 0, plan.own
    while j < own:
        now = time.monotonic()
        while j < own and sender.scheduled(j) <= now:
            sender.dispatch(j)
            j += 1
        if j < own:
            # uvloop's timers count whole milliseconds and round a shorter sleep down to
            # none: the loop would spin, taking a core from the server on a 2-core box.
            # Beacons due meanwhile go out together, their wait counted in their latency.
            await asyncio.sleep(max(sender.scheduled(j) - time.monotonic(), MIN_SLEEP))
    deadline = time.monotonic() + DRAIN_SECONDS
    while sender.finished < own and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    sender.closing = True
    for conn in list(sender.connections):
        if conn.transport is not None:
            conn.transport.close()
    return sender


def _generator_main(pipe, plan: _Plan) -> None:
    """Entry point of a generator process: sends its beacons, pipes back its results."""
    try:
        import uvloop

        sender = uvloop.run(_send_all(pipe, plan))
    except ImportError:
        sender = asyncio.run(_send_all(pipe, plan))
    pipe.send((sender.latency_ms, sender.lag_ms, sender.status))
    pipe.close()


# The dashboard: a logged-in browser, as far as the server can tell --------------------


class _PageParser(HTMLParser):
    """Hidden form fields, and the (element id, URL) of every ``hx-trigger="load"``."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.on_load: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "input" and attributes.get("type") == "hidden" and attributes.get("name"):
            self.hidden[attributes["name"]] = attributes.get("value", "")
        triggers = [t.strip().split(" ")[0] for t in attributes.get("hx-trigger", "").split(",")]
        if attributes.get("hx-get") and "load" in triggers:
            self.on_load.append((attributes.get("id", ""), attributes["hx-get"]))


def _parse(html: bytes) -> _PageParser:
    parser = _PageParser()
    parser.feed(html.decode("utf-8", "replace"))
    return parser


@dataclass(frozen=True, slots=True)
class DashboardLoad:
    started: float  # seconds since the first beacon was due
    ms: float  # the page and every request it makes on load
    requests: int
    errors: tuple[str, ...]


class DashboardClient:
    """Logs in through the real form (CSRF token and cookies), then loads dashboards:
    the page, then its on-load htmx requests in parallel with htmx's headers."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self.pool = ThreadPoolExecutor(BROWSER_CONNECTIONS, thread_name_prefix="dashboard")

    def log_in(self, email: str, password: str) -> None:
        _, page, _ = self._fetch("/login")
        form = {**_parse(page).hidden, "email": email, "password": password}
        data = urllib.parse.urlencode(form).encode()
        status, _, url = self._fetch("/login", data=data)
        if status != 200 or urllib.parse.urlsplit(url).path == "/login":
            raise RuntimeError(f"the bench user could not log in (HTTP {status})")

    def load(self, path: str, since: float) -> DashboardLoad:
        started = time.monotonic()
        status, page, _ = self._fetch(path)
        errors = _problems(path, status, page)
        if b'id="dashboard"' not in page:
            errors.append(f"{path}: no dashboard in the page")
        on_load = _parse(page).on_load
        headers = {"HX-Request": "true", "HX-Current-URL": self.base_url + path}
        futures = [
            self.pool.submit(self._fetch, url, {**headers, "HX-Target": target})
            for target, url in on_load
        ]
        for (_, url), future in zip(on_load, futures, strict=True):
            errors += _problems(url, *future.result()[:2])
        took = (time.monotonic() - started) * 1000
        return DashboardLoad(started - since, took, 1 + len(on_load), tuple(errors))

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def _fetch(
        self, url: str, headers: dict[str, str] | None = None, data: bytes | None = None
    ) -> tuple[int, bytes, str]:
        """(status, body, final URL after redirects); status 0 when nothing answered."""
        full = urllib.parse.urljoin(self.base_url, url)
        request = urllib.request.Request(full, data=data, headers=headers or {})
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read(), response.url
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), full
        except OSError as exc:
            return 0, str(exc).encode(), full


def _problems(url: str, status: int, body: bytes) -> list[str]:
    if status != 200:
        return [f"{url}: HTTP {status}"]
    if b'role="alert"' in body:  # a widget's or the page's error message
        return [f"{url}: an error message in the answer"]
    return []


def _watch_dashboard(
    client: DashboardClient, path: str, t0: float, end: float, interval: float
) -> list[DashboardLoad]:
    loads = []
    next_at = t0
    while True:
        time.sleep(max(0.0, next_at - time.monotonic()))
        if time.monotonic() >= end:
            return loads
        loads.append(client.load(path, t0))
        next_at = max(next_at + interval, time.monotonic())


# Memory ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RssSample:
    seconds: float  # since the first beacon was due
    server_kib: int  # the uvicorn worker
    all_kib: int  # the worker and its helper processes


def _sample_rss(
    pid: int, t0: float, interval: float, stop: threading.Event, out: list[RssSample]
) -> None:
    while True:
        server = rss_kib(pid)
        if server is not None:
            total = sum(rss_kib(p) or 0 for p in process_tree(pid))
            out.append(RssSample(time.monotonic() - t0, server, total))
        if stop.wait(interval):
            return


def memory_growth(
    samples: list[RssSample], window: float = 60.0, *, key: str = "server_kib"
) -> float | None:
    """Median RSS of the last ``window`` against the median of the second window,
    minus one (0.05 is 5 % growth); None when the run is shorter than three windows.

    The first window is warm-up (caches filling, helper processes starting); medians
    make one sample taken during a burst (a compaction, a dashboard load) irrelevant.
    """
    if not samples or samples[-1].seconds < 3 * window:
        return None
    end = samples[-1].seconds
    second = [getattr(s, key) for s in samples if window <= s.seconds < 2 * window]
    last = [getattr(s, key) for s in samples if s.seconds >= end - window]
    return statistics.median(last) / statistics.median(second) - 1


def rss_by_window(
    samples: list[RssSample], window: float = 60.0, key: str = "server_kib"
) -> list[float]:
    """The median RSS (KiB) of each whole ``window`` of the run, in order: where a
    soak's memory went, minute by minute."""
    windows = int(samples[-1].seconds // window) if samples else 0
    medians = []
    for k in range(windows):
        values = [getattr(s, key) for s in samples if k * window <= s.seconds < (k + 1) * window]
        if values:
            medians.append(statistics.median(values))
    return medians


# The report -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ingestion:
    sent: int  # every beacon, warm-up included
    acknowledged: int  # answered 202, warm-up included
    errors: dict[str, int]  # every other outcome, warm-up included
    achieved_rate: float  # measured beacons answered 202 per second of the window
    latency_ms: dict[str, float]  # p50, p95, p99, max of the measured beacons
    lag_p99_ms: float  # how far behind its schedule a generator dispatched

    @property
    def unanswered(self) -> int:
        return sum(n for kind, n in self.errors.items() if not kind.startswith("HTTP"))


@dataclass
class LoadReport:
    target_rate: float
    seconds: float  # measured, after the warm-up
    soak: bool
    processes: int
    connections: int
    dashboard_interval: float  # 0: no dashboard
    site_id: int
    seeded: int  # history events written before the run
    started_at: dt.datetime  # wall clock just before the first beacon
    ingestion: Ingestion
    dashboard_loads: list[DashboardLoad]
    rss: list[RssSample]
    rss_window: float
    server_cpu_seconds: float  # all server processes, first beacon to last answer
    wall_seconds: float  # first beacon to last answer (warm-up included)
    stored: int  # beacons found in the lake afterwards
    load_average: float

    @property
    def server_cores(self) -> float:
        """Cores the server kept busy on average: under 1 while beacons queue means the
        shared machine starved it."""
        return self.server_cpu_seconds / self.wall_seconds

    @property
    def cpu_us_per_beacon(self) -> float:
        """Server CPU per acknowledged beacon, the dashboard's work included."""
        return self.server_cpu_seconds / max(self.ingestion.acknowledged, 1) * 1e6

    @property
    def dashboard_ms(self) -> dict[str, float]:
        times = [load.ms for load in self.dashboard_loads]
        return _percentiles(np.array(times, np.float64), ("p50", "p95", "max"))

    @property
    def dashboard_errors(self) -> list[str]:
        return [error for load in self.dashboard_loads for error in load.errors]

    @property
    def acknowledged_in_lake(self) -> bool:
        """Every 202 is in the lake, and nothing else but beacons whose answer was lost
        (the server may have kept them)."""
        acknowledged = self.ingestion.acknowledged
        return acknowledged <= self.stored <= acknowledged + self.ingestion.unanswered

    def memory_growth(self, key: str = "server_kib") -> float | None:
        return memory_growth(self.rss, self.rss_window, key=key) if self.soak else None

    def failures(self) -> list[str]:
        out = []
        p99, errors = self.ingestion.latency_ms["p99"], self.ingestion.errors
        if not p99 <= BAR_P99_MS:
            out.append(f"ingestion p99 {p99:.1f} ms > {BAR_P99_MS:.0f} ms")
        if errors:
            out.append(f"{sum(errors.values()):,} beacons not answered 202")
        if self.dashboard_errors:
            out.append(f"{len(self.dashboard_errors)} dashboard errors")
        if not self.acknowledged_in_lake:
            acknowledged = self.ingestion.acknowledged
            out.append(f"{acknowledged:,} acknowledged but {self.stored:,} in the lake")
        # All the server's processes: the query caches live in the query process.
        growth = self.memory_growth("all_kib")
        if self.soak and (growth is None or growth > BAR_MEMORY_GROWTH):
            shown = "not measurable (too short)" if growth is None else f"{growth:+.1%}"
            out.append(f"memory growth {shown} > {BAR_MEMORY_GROWTH:.0%}")
        return out

    @property
    def passed(self) -> bool:
        return not self.failures()


def _percentiles(values: np.ndarray, names: tuple[str, ...]) -> dict[str, float]:
    if not len(values):
        return dict.fromkeys(names, float("nan"))
    qs = {"p50": 50, "p95": 95, "p99": 99, "max": 100}
    return {name: float(np.percentile(values, qs[name])) for name in names}


# Running it -----------------------------------------------------------------------------


def seed_history(data_dir: Path, site_id: int, events: int) -> int:
    """About ``events`` of demo traffic over the 30 days up to now; returns the count."""
    if events <= 0:
        return 0
    from pagepulse.config import Settings
    from pagepulse.demo.generator import EVENTS_PER_VISITOR, SiteSpec
    from pagepulse.demo.setup import DEMO_DAYS, write_demo_traffic

    daily_visitors = max(1, round(events / (DEMO_DAYS * EVENTS_PER_VISITOR)))
    spec = SiteSpec(site_id, DOMAIN, HISTORY_TIMEZONE, daily_visitors)
    return write_demo_traffic(Settings(data_dir=data_dir), spec)


@contextlib.contextmanager
def _stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM ends a run as Ctrl-C does, through the clean-up: the server and the
    generators are stopped, not left running on a shared machine."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def leave(signum: int, _frame) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _data_dir(data_dir: Path | None) -> Iterator[Path]:
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        yield data_dir
        return
    with tempfile.TemporaryDirectory(prefix="pagepulse-load-") as tmp:
        yield Path(tmp)


def check_bounds(rate: float, seconds: float, processes: int, connections: int) -> int:
    """The run's beacon count, warm-up included; ValueError when out of bounds."""
    total = round(rate * (WARMUP_SECONDS + seconds))
    if rate <= 0 or seconds <= 0:
        raise ValueError("rate and seconds must be positive")
    if total > MAX_EVENTS:
        raise ValueError(f"{total:,} beacons is over the limit of {MAX_EVENTS:,}")
    if processes < 1 or connections < processes:
        raise ValueError("need at least one generator process and a connection for each")
    return total


def run_load(
    rate: float = 5000.0,
    seconds: float = 60.0,
    *,
    dashboard_interval: float = 1.0,
    soak: bool = False,
    processes: int = 1,
    connections: int = 128,
    seed_events: int = 200_000,
    rss_interval: float | None = None,
    rss_window: float = 60.0,
    data_dir: Path | None = None,
    console: Console | None = None,
) -> LoadReport:
    """One run against a fresh server (in ``data_dir``, else a temporary one); prints
    the report and returns it. ``dashboard_interval`` 0 leaves the dashboard out;
    ``rss_window`` is the soak's minute (shorter in tests)."""
    total = check_bounds(rate, seconds, processes, connections)
    console = console or Console(width=110)
    if rss_interval is None:
        rss_interval = 5.0 if soak else 1.0
    with (
        _stopped_by_sigterm(),
        _data_dir(data_dir) as data,
        tempfile.TemporaryFile() as server_output,
    ):
        site_id = prepare_site(data)
        console.print(f"seeding ~{seed_events:,} events of history …")
        seeded = seed_history(data, site_id, seed_events)
        # The seed's files go to disk now: written back during the run, they would slow
        # the log's fsyncs and count against the server.
        os.sync()
        port = free_port()
        proc = start_server(data, port, output=server_output)
        run = _Run(proc.pid, port, site_id, rate, total, processes, connections)
        try:
            measured = run.drive(seconds, dashboard_interval, rss_interval, console)
        except BaseException:
            stop_server(proc)
            _print_tail(server_output, console)
            raise
        stop_server(proc)
        if measured.ingestion.errors:
            _print_tail(server_output, console)
        report = LoadReport(
            target_rate=rate,
            seconds=seconds,
            soak=soak,
            processes=processes,
            connections=connections,
            dashboard_interval=dashboard_interval,
            site_id=site_id,
            seeded=seeded,
            started_at=measured.started_at,
            ingestion=measured.ingestion,
            dashboard_loads=measured.loads,
            rss=measured.rss,
            rss_window=rss_window,
            server_cpu_seconds=measured.server_cpu_seconds,
            wall_seconds=measured.wall_seconds,
            stored=count_events(data, site_id) - seeded,
            load_average=os.getloadavg()[0],
        )
    print_report(report, console)
    return report


def _print_tail(output: IO[bytes], console: Console) -> None:
    output.seek(0)
    tail = output.read()[-3000:].decode(errors="replace").strip()
    if tail:
        console.print("the server's last words:", tail, markup=False, highlight=False)


@dataclass(frozen=True, slots=True)
class _Measured:
    started_at: dt.datetime
    ingestion: Ingestion
    loads: list[DashboardLoad]
    rss: list[RssSample]
    server_cpu_seconds: float
    wall_seconds: float


@dataclass
class _Run:
    server_pid: int
    port: int
    site_id: int
    rate: float
    total: int  # beacons, warm-up included
    processes: int
    connections: int

    def drive(
        self, seconds: float, dashboard_interval: float, rss_interval: float, console: Console
    ) -> _Measured:
        dashboard = DashboardClient(f"http://127.0.0.1:{self.port}")
        dashboard.log_in(BENCH_EMAIL, BENCH_PASSWORD)
        path = f"/sites/{self.site_id}"
        first = dashboard.load(path, time.monotonic())  # the owner has it open already
        if first.errors:
            raise RuntimeError(f"the dashboard does not load: {first.errors}")
        plans = [
            _Plan(self.port, k, self.processes, self.rate, self.total,
                  len(range(k, self.connections, self.processes)))
            for k in range(self.processes)
        ]  # fmt: skip
        context = multiprocessing.get_context("spawn")
        pipes, workers, results = [], [], []
        rss: list[RssSample] = []
        stop = threading.Event()
        try:
            for plan in plans:
                parent_end, child_end = context.Pipe()
                worker = context.Process(target=_generator_main, args=(child_end, plan))
                worker.daemon = True
                worker.start()
                pipes.append(parent_end)
                workers.append(worker)
            for pipe in pipes:
                if not pipe.poll(60) or pipe.recv() != "ready":
                    raise RuntimeError("a load generator did not start")
            cpu_before = cpu_seconds(self.server_pid)
            t0 = time.monotonic() + 0.2
            started_at = dt.datetime.now(dt.UTC)
            for pipe in pipes:
                pipe.send(t0)
            shown = f"every {dashboard_interval:g} s" if dashboard_interval else "off"
            console.print(
                f"{self.rate:,.0f} beacons/s for {WARMUP_SECONDS:g} + {seconds:,.0f} s from "
                f"{self.processes} processes over {self.connections} connections; "
                f"dashboard {shown} …"
            )
            sampler = threading.Thread(
                target=_sample_rss, args=(self.server_pid, t0, rss_interval, stop, rss)
            )
            sampler.start()
            end = t0 + self.total / self.rate
            loads = []
            if dashboard_interval:
                loads = _watch_dashboard(dashboard, path, t0, end, dashboard_interval)
            for pipe in pipes:
                if not pipe.poll(max(end - time.monotonic(), 0) + DRAIN_SECONDS + 60):
                    raise RuntimeError("a load generator did not finish")
                results.append(pipe.recv())
            wall = time.monotonic() - t0
            cpu = cpu_seconds(self.server_pid) - cpu_before
        finally:
            stop.set()
            dashboard.close()
            for worker in workers:
                worker.join(timeout=10 if len(results) == len(workers) else 0)
                if worker.is_alive():
                    worker.kill()
        ingestion = self.ingestion(plans, results, t0, seconds)
        return _Measured(started_at, ingestion, loads, rss, cpu, wall)

    def ingestion(self, plans: list[_Plan], results: list, t0: float, seconds: float) -> Ingestion:
        warm = self.total - round(self.rate * seconds)  # the first beacons are the warm-up
        latencies, lags, statuses, measured_202, last_answer = [], [], [], 0, t0
        for plan, (latency_ms, lag_ms, status) in zip(plans, results, strict=True):
            index = plan.index + np.arange(plan.own) * plan.processes
            measured = index >= warm
            answered = measured & ~np.isnan(latency_ms)
            latencies.append(latency_ms[answered])
            lags.append(lag_ms[measured])
            statuses.append(status)
            measured_202 += int(np.count_nonzero(measured & (status == 202)))
            if answered.any():
                done = t0 + index[answered] / self.rate + latency_ms[answered] / 1000
                last_answer = max(last_answer, float(done.max()))
        outcomes = Counter(np.concatenate(statuses).tolist())
        names = {NO_ANSWER: "no answer", CONNECTION_LOST: "connection lost"}
        errors = {
            names.get(code, f"HTTP {code}"): n
            for code, n in sorted(outcomes.items())
            if code != 202
        }
        window = last_answer - (t0 + warm / self.rate)
        latency = np.concatenate(latencies).astype(np.float64)
        lag = np.concatenate(lags).astype(np.float64)
        return Ingestion(
            sent=self.total,
            acknowledged=outcomes.get(202, 0),
            errors=errors,
            achieved_rate=measured_202 / window if window > 0 else 0.0,
            latency_ms=_percentiles(latency, ("p50", "p95", "p99", "max")),
            lag_p99_ms=_percentiles(lag[~np.isnan(lag)], ("p99",))["p99"],
        )


def print_report(report: LoadReport, console: Console) -> None:
    mode = f"soak, {report.seconds / 60:g} min" if report.soak else f"{report.seconds:g} s"
    table = Table(
        title=f"Load ({mode}): one server worker, {os.cpu_count()} cores shared with the client"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    ingestion = report.ingestion
    lat, dash = ingestion.latency_ms, report.dashboard_ms
    first, last = (report.rss[0], report.rss[-1]) if report.rss else (None, None)
    errors = ", ".join(f"{n:,} {kind}" for kind, n in ingestion.errors.items()) or "0"
    interval = f"every {report.dashboard_interval:g} s" if report.dashboard_interval else "off"
    rows = [
        ("target rate, beacons/s", f"{report.target_rate:,.0f}"),
        ("achieved rate (answered 202), beacons/s", f"{ingestion.achieved_rate:,.0f}"),
        ("beacons sent / acknowledged (warm-up included)",
         f"{ingestion.sent:,} / {ingestion.acknowledged:,}"),
        ("ingestion errors (not 202)", errors),
        ("ingestion latency p50 / p95 / p99 ms",
         f"{lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f}"),
        ("ingestion latency max ms", f"{lat['max']:.1f}"),
        ("generator behind schedule p99 ms", f"{ingestion.lag_p99_ms:.1f}"),
        ("server CPU: cores busy; µs per beacon (dashboard included)",
         f"{report.server_cores:.2f}; {report.cpu_us_per_beacon:,.0f}"),
        (f"dashboard loads, {interval} (requests each)",
         f"{len(report.dashboard_loads)} ({_requests_per_load(report)})"),
        ("dashboard load p50 / p95 / max ms",
         f"{dash['p50']:.0f} / {dash['p95']:.0f} / {dash['max']:.0f}"),
        ("dashboard errors", str(len(report.dashboard_errors))),
        ("server RSS start → end MiB", _rss_change(first, last, "server_kib")),
        ("all server processes RSS start → end MiB", _rss_change(first, last, "all_kib")),
        ("acknowledged beacons in the lake",
         f"{'yes' if report.acknowledged_in_lake else 'NO'} ({report.stored:,})"),
    ]  # fmt: skip
    if report.soak:
        for key, label in (("server_kib", "server"), ("all_kib", "all server processes")):
            growth = report.memory_growth(key)
            shown = "n/a" if growth is None else f"{growth:+.1%}"
            rows.append((f"{label} RSS growth, last vs second minute (median)", shown))
            by_minute = rss_by_window(report.rss, report.rss_window, key)
            rows.append((f"{label} RSS median by minute MiB",
                         " ".join(f"{kib / 1024:.0f}" for kib in by_minute)))  # fmt: skip
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for error in report.dashboard_errors[:5]:
        console.print(f"dashboard error: {error}")
    console.print(f"load average at the end: {report.load_average:.2f}")
    failures = report.failures()
    bar = f"p99 ≤ {BAR_P99_MS:.0f} ms, no errors" + (
        f", memory growth ≤ {BAR_MEMORY_GROWTH:.0%}" if report.soak else ""
    )
    if failures:
        console.print(f"[bold red]FAIL[/] ({bar}): " + "; ".join(failures))
    else:
        console.print(f"[bold green]PASS[/] ({bar})")


def _requests_per_load(report: LoadReport) -> str:
    counts = sorted({load.requests for load in report.dashboard_loads})
    return "/".join(str(c) for c in counts) or "-"


def _rss_change(first: RssSample | None, last: RssSample | None, key: str) -> str:
    if first is None or last is None:
        return "-"
    return f"{getattr(first, key) / 1024:,.0f} → {getattr(last, key) / 1024:,.0f}"
