"""A 202 means the event survives ``kill -9`` of the server the next instant, every time.

Each cycle starts the server (one worker, or two every third cycle: what one
configuration leaves in its logs another replays), sends events from 32 concurrent
keep-alive connections, and SIGKILLs every process of the server once a varying number
of them are acknowledged, with more in flight. The log segments are small, so some
cycles also die while a full segment is sealed, published or recycled. After the last
cycle: every acknowledged event is in the lake exactly once, and every Parquet file
reads in full.

20 cycles in the default suite (``PAGEPULSE_CRASH_CYCLES`` overrides), 100 with
``-m long``. A cycle costs about a server start: the bursts are short.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from pagepulse.lake import quarantine
from tests.support.budget import LONG_ONLY, count
from tests.support.server import Server

CYCLES = count("PAGEPULSE_CRASH_CYCLES", 20)
LONG_CYCLES = count("PAGEPULSE_CRASH_CYCLES_LONG", 100)
CLIENTS = 32
START_TIMEOUT = 120.0  # a start replays the killed workers' logs; CI machines are busy
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SERVER_ENV = {
    "PAGEPULSE_FLUSH_SECONDS": "0.2",  # flushes land between and during the bursts
    "PAGEPULSE_WAL_SEGMENT_BYTES": str(64 * 1024),  # ~250 events: segments fill up
}


async def _send_until_killed(server: Server, start: int, kill_after: int) -> tuple[set[int], int]:
    """Send events with a unique ``seq`` prop over 32 keep-alive connections; SIGKILL the
    server as soon as ``kill_after`` of them are acknowledged, with more in flight.

    Plain HTTP/1.1 over asyncio streams: an httpx client spends ~15 ms of CPU a request
    here, which would make the client, not the server, the cost of every cycle."""
    acked: set[int] = set()
    next_seq = start
    killed = asyncio.Event()

    async def client() -> None:
        nonlocal next_seq
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        except OSError:
            return
        try:
            while not killed.is_set():
                seq, next_seq = next_seq, next_seq + 1
                writer.write(_beacon(seq))
                await writer.drain()
                status = await _read_response(reader)
                if status == 202:
                    acked.add(seq)
                    if len(acked) >= kill_after and not killed.is_set():
                        server.kill()
                        killed.set()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            return  # killed: the connection is gone
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return acked, next_seq


def _beacon(seq: int) -> bytes:
    page = f"https://example.com/p/{seq % 17}"
    event = {"n": "pageview", "u": page, "d": "example.com", "p": {"seq": str(seq)}}
    body = json.dumps(event).encode()
    head = (
        f"POST /api/event HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {UA}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    """The status of one HTTP/1.1 response (its body read and dropped)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    if headers.get("transfer-encoding") == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status


def crash_repeatedly(data_dir: Path, cycles: int) -> None:
    rng = random.Random(cycles)
    server = Server(data_dir, env=SERVER_ENV)
    site = server.add_site("example.com")
    all_acked: set[int] = set()
    sent = 0
    for cycle in range(cycles):
        server.workers = 2 if cycle % 3 == 1 else 1
        server.start(timeout=START_TIMEOUT)
        kill_after = rng.randint(40, 400)
        acked, sent = asyncio.run(_send_until_killed(server, sent, kill_after))
        assert len(acked) >= kill_after, f"cycle {cycle}: the server was not killed under load"
        all_acked |= acked

    server.workers = 1
    server.start(timeout=START_TIMEOUT)  # replays what the killed workers left in their logs
    try:
        seqs: list[int] = []
        for _ in range(100):
            seqs = [int(s) for (s,) in server.events(site, "props['seq']")]
            if all_acked <= set(seqs):
                break
            asyncio.run(asyncio.sleep(0.1))
    finally:
        server.stop()
    missing = all_acked - set(seqs)
    assert not missing, f"{len(missing)} of {len(all_acked)} acknowledged events lost"
    duplicates = [s for s, n in Counter(seqs).items() if n > 1]
    assert not duplicates, f"{len(duplicates)} events stored twice"
    assert set(seqs) <= set(range(sent))
    files = sorted((data_dir / "events").rglob("*.parquet"))
    unreadable = {f.name: reason for f in files if (reason := quarantine.check_file(f))}
    assert files and not unreadable, unreadable
    assert not (data_dir / "quarantine").exists()
    leftovers = list((data_dir / "wal").glob("*.seg"))
    assert leftovers == [], "a clean stop publishes and removes every log segment"


def test_acknowledged_events_survive_repeated_sigkill(tmp_path: Path) -> None:
    crash_repeatedly(tmp_path / "data", CYCLES)


@pytest.mark.long
@pytest.mark.skipif(LONG_ONLY, reason="the long variant: run with -m long")
def test_acknowledged_events_survive_a_hundred_sigkills(tmp_path: Path) -> None:
    crash_repeatedly(tmp_path / "data", LONG_CYCLES)
