"""The server compacts its own lake on a schedule while ingesting."""

from __future__ import annotations

import datetime as dt
import os
import time

import duckdb
import httpx

from pagepulse.lake.layout import COMPACTED_PREFIX, live_files, partition_files
from tests.support.server import Server, _children

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def test_server_merges_flushed_files_and_counts_stay_exact(tmp_path):
    server = Server(
        tmp_path / "data",
        env={"PAGEPULSE_FLUSH_SECONDS": "0.3", "PAGEPULSE_COMPACT_SECONDS": "1.5"},
    )
    site = server.add_site("example.com")
    server.start()
    try:
        with httpx.Client(base_url=server.url, headers={"User-Agent": UA}) as http:
            for batch in range(4):  # four flushes, so several files
                for i in range(25):
                    body = {"n": "pageview", "u": f"https://example.com/{batch}/{i}",
                            "d": "example.com"}  # fmt: skip
                    assert http.post("/api/event", json=body).status_code == 202
                time.sleep(0.5)
        deadline = time.monotonic() + 20
        folders = []
        helpers: set[int] = set()  # the publisher and compaction, at nice 10
        while time.monotonic() < deadline:
            helpers |= set(_behind(server.proc.pid))
            folders = list((server.data_dir / "events" / f"site_id={site}").glob("date=*"))
            live = [f for folder in folders for f in live_files(folder)]
            if live and all(f.name.startswith(COMPACTED_PREFIX) for f in live) and len(helpers) > 2:
                break
            time.sleep(0.2)
        live = [f for folder in folders for f in live_files(folder)]
        assert live and all(f.name.startswith(COMPACTED_PREFIX) for f in live), live
        # Each compaction runs in a new process, which leaves with the partition it
        # held: the publisher plus more than one compaction process were seen.
        assert len(helpers) > 2, helpers
    finally:
        server.stop()
    days = [dt.date.fromisoformat(f.name[5:]) for f in folders]
    files = [str(f) for f in partition_files(server.data_dir / "events", site, days)]
    with duckdb.connect() as conn:
        count = conn.execute("SELECT count(*) FROM read_parquet($f)", {"f": files}).fetchone()
    assert count[0] == 100  # every event once: the replaced files are not read


def _behind(pid: int) -> list[int]:
    found = []
    for child in _children(pid):
        try:
            if os.getpriority(os.PRIO_PROCESS, child) == 10:
                found.append(child)
        except ProcessLookupError:
            continue
    return found
