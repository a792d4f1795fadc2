"""A real PagePulse server in a subprocess (``pagepulse serve``) for HTTP-level tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx

from pagepulse.control.db import open_database
from pagepulse.control.sites import create_site, get_site_by_domain
from pagepulse.control.users import create_user, get_user_by_email


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(
        self,
        data_dir: Path,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        plain_uvicorn: bool = False,
    ):
        """``plain_uvicorn``: run ``uvicorn pagepulse.asgi:create_app`` with uvicorn's own
        HTTP protocol, so beacons take the ASGI route instead of being answered inline."""
        self.data_dir = data_dir
        self.workers = workers
        self.plain_uvicorn = plain_uvicorn
        self.env = env or {}
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_site(self, domain: str, timezone: str = "UTC") -> int:
        conn = open_database(self.data_dir / "pagepulse.sqlite3")
        try:
            user = get_user_by_email(conn, "owner@pagepulse.test") or create_user(
                conn, "owner@pagepulse.test", "owner-password"
            )
            site = get_site_by_domain(conn, domain) or create_site(conn, domain, user.id, timezone)
            return site.id
        finally:
            conn.close()

    def start(self, timeout: float = 30.0) -> Server:
        env = {
            **os.environ,
            "PAGEPULSE_DATA_DIR": str(self.data_dir),
            "PAGEPULSE_SECRET_KEY": "test-secret",
            "PAGEPULSE_FLUSH_SECONDS": "0.5",
            **self.env,
        }
        log = self.log_path.open("ab")
        cmd = [sys.executable, "-m", "pagepulse.cli", "serve", "--port", str(self.port)]
        if self.plain_uvicorn:
            # As `pagepulse serve` does: X-Forwarded-For is pagepulse.net's business only.
            cmd = [sys.executable, "-m", "uvicorn", "pagepulse.asgi:create_app", "--factory",
                   "--no-access-log", "--no-proxy-headers", "--port", str(self.port)]  # fmt: skip
        self.proc = subprocess.Popen(
            [*cmd, "--workers", str(self.workers)], env=env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout
        # One client for every poll: httpx.get builds an SSL context each time (~50 ms of
        # CPU), seconds in all while a busy machine starts the server.
        with httpx.Client(timeout=0.5) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
                try:
                    if http.get(f"{self.url}/health").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def kill(self) -> None:
        """SIGKILL the whole process group of workers, as a crash would."""
        assert self.proc is not None
        children = _children(self.proc.pid)
        self.proc.kill()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def events(self, site_id: int, columns: str = "*") -> list[tuple]:
        files = sorted(
            str(p) for p in (self.data_dir / "events" / f"site_id={site_id}").rglob("*.parquet")
        )
        if not files:
            return []
        with duckdb.connect() as conn:
            return conn.execute(
                f"SELECT {columns} FROM read_parquet($files) ORDER BY ts", {"files": files}
            ).fetchall()

    def wait_for_events(self, site_id: int, count: int, timeout: float = 10.0) -> list[tuple]:
        deadline = time.monotonic() + timeout
        rows: list[tuple] = []
        while time.monotonic() < deadline:
            rows = self.events(site_id)
            if len(rows) >= count:
                return rows
            time.sleep(0.1)
        return rows


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out.append(int(entry.name))
                out.extend(_children(int(entry.name)))
    return out
