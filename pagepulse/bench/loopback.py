"""What the ingestion and load benchmarks share: a PagePulse server on loopback and a
raw beacon client for it.

- :func:`start_server` runs ``pagepulse serve`` (or the no-op floor) on 127.0.0.1 with
  its own data dir, trusting loopback as a proxy so that varied ``X-Forwarded-For``
  addresses make distinct visitors, and with the per-IP rate limit out of the way;
- :func:`beacon_requests` are raw HTTP/1.1 ``POST /api/event`` requests with varied
  pages, referrers, user agents and documentation-range addresses;
- :class:`ResponseReader` frames the server's answers on a raw asyncio protocol (an
  HTTP client library would be the bottleneck on a 2-core machine);
- :func:`count_events` reads the lake back with DuckDB, :func:`process_tree`,
  :func:`cpu_seconds` and :func:`rss_kib` measure the server from ``/proc``.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

DOMAIN = "bench.pagepulse.test"
BENCH_EMAIL = "bench@pagepulse.test"
BENCH_PASSWORD = "bench-password"

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


def beacon_requests(count: int, port: int, seed: int = 7) -> list[bytes]:
    """``count`` distinct pageview requests, ready to write to a keep-alive socket."""
    rng = random.Random(seed)
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


class ResponseReader(asyncio.Protocol):
    """A keep-alive connection that hands each complete response's status (b"202")
    to :meth:`response_received`. Responses carry a Content-Length (the ingestion
    route and uvicorn always send one)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

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
            self.response_received(head[9:12])

    def response_received(self, status: bytes) -> None:
        raise NotImplementedError

    def connection_lost(self, exc) -> None:
        self.transport = None


# The server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_site(data_dir: Path) -> int:
    """The bench user (``BENCH_EMAIL``/``BENCH_PASSWORD``) and the ``DOMAIN`` site."""
    from pagepulse.control.db import open_database
    from pagepulse.control.sites import create_site
    from pagepulse.control.users import create_user

    conn = open_database(data_dir / "pagepulse.sqlite3")
    try:
        user = create_user(conn, BENCH_EMAIL, BENCH_PASSWORD)
        return create_site(conn, DOMAIN, user.id).id
    finally:
        conn.close()


def start_server(
    data_dir: Path,
    port: int,
    *,
    workers: int = 1,
    noop: bool = False,
    output: IO[bytes] | None = None,
) -> subprocess.Popen:
    """``pagepulse serve`` (or the no-op floor) on 127.0.0.1:``port``, ready to answer."""
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
    proc = subprocess.Popen(
        [*cmd, "--workers", str(workers)], env=env, stdout=output, stderr=output
    )
    try:
        _wait_ready(port, proc)
    except BaseException:
        stop_server(proc)
        raise
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM: the server publishes what its log still holds, then exits."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


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


def count_events(data_dir: Path, site_id: int) -> int:
    """Events of the site in the lake, its live files read with DuckDB (a plain glob
    would count a compacted partition twice until the replaced files are deleted)."""
    import duckdb

    from pagepulse.lake.layout import partition_files, site_days

    events_dir = data_dir / "events"
    days = site_days(events_dir, site_id)
    files = [str(p) for p in partition_files(events_dir, site_id, days)]
    if not files:
        return 0
    with duckdb.connect() as conn:
        query = "SELECT count(*) FROM read_parquet($files)"
        return conn.execute(query, {"files": files}).fetchone()[0]


# Measuring the server from /proc --------------------------------------------------------


def process_tree(root_pid: int) -> list[int]:
    """``root_pid`` and all its descendants (the server's helper processes)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
    tree, frontier = [root_pid], [root_pid]
    while frontier:
        pid = frontier.pop()
        children = [c for c, p in parents.items() if p == pid and c not in tree]
        tree.extend(children)
        frontier.extend(children)
    return tree


def cpu_seconds(root_pid: int) -> float:
    """User + system CPU time of a process and all its descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in process_tree(root_pid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def rss_kib(pid: int) -> int | None:
    """Resident memory of one process (``VmRSS`` of ``/proc/<pid>/status``), None once
    it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None
