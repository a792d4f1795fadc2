"""``pagepulse bench ingest``: durable ingestion throughput and latency over loopback.

Starts a real server (``pagepulse serve``) on a temporary data dir, drives it closed
loop (each keep-alive connection sends its next beacon when the previous one is
answered) with the raw client of :mod:`pagepulse.bench.loopback`, then stops the
server and counts the events in the lake with DuckDB: every 202 must be there.
Distinct visitors come from varied user agents and ``X-Forwarded-For`` documentation
addresses (the bench server trusts loopback as a proxy); nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pagepulse.bench.loopback import (
    ResponseReader,
    beacon_requests,
    count_events,
    cpu_seconds,
    free_port,
    prepare_site,
    start_server,
    stop_server,
)


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


class _Connection(ResponseReader):
    """Closed loop: one request in flight, the next sent on each response."""

    def __init__(self, load: _Load):
        super().__init__()
        self.load = load
        self.sent_at = 0.0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.send_next()

    def send_next(self) -> None:
        if self.load.stopping or self.transport is None:
            return
        self.sent_at = time.perf_counter()
        self.load.sent += 1
        self.transport.write(self.load.next_request())

    def response_received(self, status: bytes) -> None:
        self.load.record(status, time.perf_counter() - self.sent_at)
        self.send_next()


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


async def _drive(
    port: int, connections: int, seconds: float, warmup: float, server_pid: int
) -> _Load:
    load = _Load(beacon_requests(5000, port))
    loop = asyncio.get_running_loop()
    conns = [
        await loop.create_connection(lambda: _Connection(load), "127.0.0.1", port)
        for _ in range(connections)
    ]
    await asyncio.sleep(warmup)
    load.latencies.clear()
    start_accepted, start_errors = load.accepted, load.errors
    load.measuring = True
    started, cpu_before = time.perf_counter(), cpu_seconds(server_pid)
    await asyncio.sleep(seconds)
    load.measured_seconds = time.perf_counter() - started
    load.server_cpu_seconds = cpu_seconds(server_pid) - cpu_before
    load.measured_accepted = load.accepted - start_accepted
    load.measured_errors = load.errors - start_errors
    load.measuring = False
    load.stopping = True
    await asyncio.sleep(0.5)  # let in-flight requests answer
    for transport, _ in conns:
        transport.close()
    return load


def measure(
    workers: int, seconds: float, connections: int, warmup: float = 2.0, *, noop: bool = False
) -> LoadResult:
    """One run against a fresh server: PagePulse, or (``noop``) the do-nothing floor."""
    with tempfile.TemporaryDirectory(prefix="pagepulse-bench-") as tmp:
        data_dir = Path(tmp)
        site_id = prepare_site(data_dir)
        port = free_port()
        proc = start_server(data_dir, port, workers=workers, noop=noop)
        try:
            load = asyncio.run(_drive(port, connections, seconds, warmup, proc.pid))
        finally:
            stop_server(proc)
        stored = load.accepted if noop else count_events(data_dir, site_id)
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
