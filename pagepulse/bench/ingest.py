"""``pagepulse bench ingest``: durable ingestion throughput and latency over loopback.

Starts a real server (``pagepulse serve``) on a temporary data dir, drives it with a
load generator written here on raw asyncio protocols (an HTTP client library would
be the bottleneck on a 2-core machine), then stops the server and counts the events
in the lake with DuckDB: every 202 must be there. Distinct visitors come from
varied user agents and ``X-Forwarded-For`` documentation addresses (the bench
server trusts loopback as a proxy); nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

_USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
]
_PAGES = [
    "/",
    "/pricing",
    "/blog/hello-world",
    "/docs/start",
    "/about",
    "/blog/launch?utm_source=hn",
]
_REFERRERS = ["", "https://www.google.com/", "https://news.ycombinator.com/", "https://t.co/x"]
DOMAIN = "bench.pagepulse.test"


@dataclass
class LoadResult:
    name: str
    workers: int
    sent: int
    accepted: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    server_cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds

    @property
    def cpu_us_per_event(self) -> float:
        """Server CPU per event: robust to a noisy machine, unlike events/s."""
        return self.server_cpu_seconds / max(self.accepted, 1) * 1e6

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        return statistics.quantiles(self.latencies_ms, n=1000)[int(q * 1000) - 1]


def _requests(count: int, port: int) -> list[bytes]:
    rng = random.Random(7)
    out = []
    for _ in range(count):
        page, ref = rng.choice(_PAGES), rng.choice(_REFERRERS)
        width = rng.choice([390, 1280, 1920])
        body = (
            f'{{"n":"pageview","u":"https://{DOMAIN}{page}","d":"{DOMAIN}",'
            f'"r":"{ref}","w":{width}}}'
        ).encode()
        ip = f"198.51.100.{rng.randrange(1, 255)}"
        head = (
            f"POST /api/event HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"User-Agent: {rng.choice(_USER_AGENTS)}\r\nX-Forwarded-For: {ip}\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        out.append(head + body)
    return out


class _Connection(asyncio.Protocol):
    """Keep-alive client: one request in flight, the next sent on each response."""

    def __init__(self, load: _Load):
        self.load = load
        self.buffer = b""
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.send_next()

    def send_next(self) -> None:
        if self.load.stopping or self.transport is None:
            return
        self.sent_at = time.perf_counter()
        self.load.sent += 1
        self.transport.write(self.load.next_request())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.load.record(head[9:12], time.perf_counter() - self.sent_at)
            self.send_next()

    def connection_lost(self, exc) -> None:
        self.transport = None


class _Load:
    def __init__(self, requests: list[bytes]):
        self.requests = requests
        self.index = 0
        self.sent = 0
        self.accepted = 0
        self.errors = 0
        self.latencies: list[float] = []
        self.stopping = False
        self.measuring = False

    def next_request(self) -> bytes:
        self.index = (self.index + 1) % len(self.requests)
        return self.requests[self.index]

    def record(self, status: bytes, seconds: float) -> None:
        if status == b"202":
            self.accepted += 1
        else:
            self.errors += 1
        if self.measuring:
            self.latencies.append(seconds * 1000)


def _cpu_seconds(root_pid: int) -> float:
    """User + system CPU time of a process and all its descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        pid = frontier.pop()
        children = [c for c, p in parents.items() if p == pid and c not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(pid, 0.0) for pid in tree)


async def _drive(
    port: int, connections: int, seconds: float, warmup: float, server_pid: int
) -> _Load:
    load = _Load(_requests(5000, port))
    loop = asyncio.get_running_loop()
    conns = [
        await loop.create_connection(lambda: _Connection(load), "127.0.0.1", port)
        for _ in range(connections)
    ]
    await asyncio.sleep(warmup)
    load.latencies.clear()
    start_accepted, start_errors = load.accepted, load.errors
    load.measuring = True
    started, cpu_before = time.perf_counter(), _cpu_seconds(server_pid)
    await asyncio.sleep(seconds)
    load.measured_seconds = time.perf_counter() - started
    load.server_cpu_seconds = _cpu_seconds(server_pid) - cpu_before
    load.measured_accepted = load.accepted - start_accepted
    load.measured_errors = load.errors - start_errors
    load.measuring = False
    load.stopping = True
    await asyncio.sleep(0.5)  # let in-flight requests answer
    for transport, _ in conns:
        transport.close()
    return load


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if b" 200 " in s.recv(100):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not start")


def _prepare(data_dir: Path) -> int:
    from pagepulse.control.db import open_database
    from pagepulse.control.sites import create_site
    from pagepulse.control.users import create_user

    conn = open_database(data_dir / "pagepulse.sqlite3")
    user = create_user(conn, "bench@pagepulse.test", "bench-password")
    site = create_site(conn, DOMAIN, user.id)
    conn.close()
    return site.id


def _count_events(data_dir: Path, site_id: int) -> int:
    import duckdb

    files = sorted(str(p) for p in (data_dir / "events" / f"site_id={site_id}").rglob("*.parquet"))
    if not files:
        return 0
    with duckdb.connect() as conn:
        query = "SELECT count(*) FROM read_parquet($files)"
        return conn.execute(query, {"files": files}).fetchone()[0]


def measure(
    workers: int, seconds: float, connections: int, warmup: float = 2.0, *, noop: bool = False
) -> LoadResult:
    """One run against a fresh server: PagePulse, or (``noop``) the do-nothing floor."""
    with tempfile.TemporaryDirectory(prefix="pagepulse-bench-") as tmp:
        data_dir = Path(tmp)
        site_id = _prepare(data_dir)
        port = _free_port()
        env = {
            **os.environ,
            "PAGEPULSE_DATA_DIR": str(data_dir),
            "PAGEPULSE_TRUSTED_PROXIES": "127.0.0.1/32",
            "PAGEPULSE_RATE_LIMIT_PER_SECOND": "1000000",
            "PAGEPULSE_RATE_LIMIT_BURST": "1000000",
            "PAGEPULSE_LOG_LEVEL": "warning",
        }
        if noop:
            cmd = [sys.executable, "-m", "uvicorn", "pagepulse.bench.noop_app:app",
                   "--no-access-log", "--log-level", "warning", "--port", str(port)]  # fmt: skip
        else:
            cmd = [sys.executable, "-m", "pagepulse.cli", "serve", "--port", str(port)]
        proc = subprocess.Popen([*cmd, "--workers", str(workers)], env=env)
        try:
            _wait_ready(port, proc)
            load = asyncio.run(_drive(port, connections, seconds, warmup, proc.pid))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        stored = load.accepted if noop else _count_events(data_dir, site_id)
        if stored != load.accepted:
            raise RuntimeError(f"{load.accepted} events acknowledged but {stored} in the lake")
        return LoadResult(
            name="no-op ASGI floor" if noop else "PagePulse",
            workers=workers,
            sent=load.sent,
            accepted=load.measured_accepted,
            errors=load.measured_errors,
            seconds=load.measured_seconds,
            latencies_ms=load.latencies,
            server_cpu_seconds=load.server_cpu_seconds,
        )


def run_ingest_bench(
    seconds: float, connections: int, worker_counts: list[int]
) -> list[LoadResult]:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    console = Console(width=130)
    results = []
    for workers in worker_counts:
        console.print(f"[bold]{workers} worker(s)[/]: {connections} connections, {seconds:.0f} s …")
        results.append(measure(workers, seconds, connections))
    console.print(f"[bold]no-op floor[/]: 1 worker, {connections} connections, {seconds:.0f} s …")
    floor = measure(1, seconds, connections, noop=True)
    table = Table(
        title=f"Durable ingestion over loopback, {os.cpu_count()} cores shared with the client"
    )
    columns = ("server", "workers", "events/s", "p50 ms", "p99 ms", "max ms", "server CPU µs/event",
               "errors", "all 202s in lake")  # fmt: skip
    for col in columns:
        table.add_column(col, justify="right")
    for r in [*results, floor]:
        table.add_row(
            r.name,
            str(r.workers),
            f"{r.rate:,.0f}",
            f"{r.percentile(0.5):.1f}",
            f"{r.percentile(0.99):.1f}",
            f"{max(r.latencies_ms, default=float('nan')):.1f}",
            f"{r.cpu_us_per_event:.0f}",
            str(r.errors),
            "n/a" if r is floor else "yes",
        )
    console.print(table)
    load = os.getloadavg()[0]
    console.print(
        f"load average at the end: {load:.2f} (other processes skew events/s, not CPU/event)"
    )
    console.print(
        f"PagePulse (1 worker) vs the no-op floor: {results[0].rate / floor.rate:.2f}× the "
        f"throughput at {results[0].cpu_us_per_event / floor.cpu_us_per_event:.2f}× the CPU/event"
    )
    if len(results) > 1:
        console.print(
            f"{results[-1].workers} vs {results[0].workers} worker(s): "
            f"{results[-1].rate / results[0].rate:.2f}×"
        )
    return results
