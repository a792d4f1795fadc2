"""A full disk answers 503, never 202 for an event it did not keep, and recovers."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import pytest

from tests.support.server import Server

SEGMENT = 1024 * 1024


@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
        capture_output=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {result.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(path) -> None:
    """Take every free byte of the filesystem."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 8, 1):
            while True:
                try:
                    os.write(fd, b"\0" * chunk)
                except OSError:
                    break
    finally:
        os.close(fd)


def test_full_disk_answers_503_and_recovers_without_losing_acknowledged_events(small_disk):
    server = Server(small_disk / "data", env={"PAGEPULSE_WAL_SEGMENT_BYTES": str(SEGMENT)})
    server.log_path = small_disk.parent / "server.log"  # logs must not need the full disk
    site = server.add_site("example.com")
    server.start()
    acked: set[int] = set()
    statuses: list[int] = []
    try:
        ua = {
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
        }
        with httpx.Client(base_url=server.url, timeout=10, headers=ua) as http:

            def send(seq: int) -> int:
                body = {"n": "pageview", "u": f"https://example.com/{os.urandom(450).hex()}",
                        "d": "example.com", "p": {"seq": str(seq)}}  # fmt: skip
                response = http.post("/api/event", json=body)
                status = response.status_code
                assert "x-pagepulse-dropped" not in response.headers
                if status == 202:
                    acked.add(seq)
                return status

            filler = small_disk / "filler"
            _fill(filler)
            seq = 0
            # ~1 KB events: a 1 MiB segment is full after about a thousand of them.
            while 503 not in statuses and seq < 5000:
                statuses.append(send(seq))
                seq += 1
            assert 503 in statuses, "a full disk must refuse events it cannot keep"
            assert set(statuses) <= {202, 503}
            # The same again: still refused, with a reason and when to retry.
            body = {"n": "pageview", "u": f"https://example.com/{os.urandom(450).hex()}",
                    "d": "example.com"}  # fmt: skip
            response = http.post("/api/event", json=body)
            assert response.status_code == 503
            assert "retry" in response.json()["errors"][0]
            assert response.headers["retry-after"]

            os.unlink(filler)  # space returns: the server recovers by itself
            deadline = time.monotonic() + 15
            recovered = False
            while time.monotonic() < deadline:
                if send(seq) == 202:
                    recovered = True
                    break
                seq += 1
                time.sleep(0.2)
            assert recovered, "ingestion did not recover when space returned"
            for extra in range(seq + 1, seq + 20):
                assert send(extra) == 202
    finally:
        server.stop()

    stored = [int(s) for (s,) in server.events(site, "props['seq']")]
    assert set(stored) >= acked, f"{len(acked - set(stored))} acknowledged events lost"
    assert len(stored) == len(set(stored)), "no event stored twice"
