"""A 202 means the event survives ``kill -9`` of the server the next instant."""

from __future__ import annotations

import asyncio
import os
from collections import Counter

import httpx
import pytest

from tests.support.server import Server

CYCLES = int(os.environ.get("PAGEPULSE_CRASH_CYCLES", "2"))
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


async def _send_until_killed(server: Server, start: int, kill_after: int) -> tuple[set[int], int]:
    """Send events with a unique ``seq`` prop from 32 concurrent clients; SIGKILL the
    server as soon as ``kill_after`` of them are acknowledged, with more in flight."""
    acked: set[int] = set()
    next_seq = start
    killed = asyncio.Event()

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal next_seq
        while not killed.is_set():
            seq, next_seq = next_seq, next_seq + 1
            body = {
                "n": "pageview",
                "u": f"https://example.com/p/{seq % 17}",
                "d": "example.com",
                "p": {"seq": str(seq)},
            }
            try:
                response = await http.post("/api/event", json=body, headers={"User-Agent": UA})
            except httpx.HTTPError:
                return
            if response.status_code == 202:
                acked.add(seq)
                if len(acked) >= kill_after and not killed.is_set():
                    server.kill()
                    killed.set()

    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=10) as http:
        await asyncio.gather(*(client(http) for _ in range(32)))
    return acked, next_seq


@pytest.mark.parametrize("workers", [1, 2])
def test_acknowledged_events_survive_sigkill(tmp_path, workers):
    server = Server(tmp_path / "data", workers=workers)
    site = server.add_site("example.com")
    all_acked: set[int] = set()
    sent = 0
    for cycle in range(CYCLES):
        server.start()
        acked, sent = asyncio.run(_send_until_killed(server, sent, kill_after=150 + 50 * cycle))
        assert acked, "the server acknowledged nothing before it was killed"
        all_acked |= acked

    server.start()  # replays what the killed workers left in their logs
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
    assert not missing, f"{len(missing)} acknowledged events lost"
    duplicates = [s for s, n in Counter(seqs).items() if n > 1]
    assert not duplicates, f"{len(duplicates)} events stored twice"
    assert set(seqs) <= set(range(sent))
    leftovers = list((server.data_dir / "wal").glob("*.seg"))
    assert leftovers == [], "a clean stop publishes and removes every log segment"
