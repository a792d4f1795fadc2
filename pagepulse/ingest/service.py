"""One worker's ingestion state: site lookup, salts, rate limits, the log and its flusher.

The web app enters ``running()`` in its lifespan. Every ``flush_seconds`` the flusher
seals the log segment, publishes it to the lake (in a helper process) and deletes it;
it also adopts segments left by dead workers and deletes expired salts. On a clean
shutdown the last segment is published too.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import gc
import logging
import multiprocessing
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor

from pagepulse.config import Settings
from pagepulse.control import db as control_db
from pagepulse.control.sites import domain_map, retention_by_site
from pagepulse.ingest import salts
from pagepulse.ingest.enrich import CountryLookup, parse_user_agent
from pagepulse.ingest.ratelimit import RateLimiter
from pagepulse.ingest.wal import Segment, WriteAheadLog, claim_orphans
from pagepulse.ingest.writer import publish_segment, still_logged, warm_up
from pagepulse.lake.compaction import CompactionBusy
from pagepulse.lake.retention import enforce_retention_and_compact
from pagepulse.lake.schema import PREVIOUS_DAY_WINDOW_US
from pagepulse.memory import give_back_memory

log = logging.getLogger("pagepulse.ingest")

SITE_CACHE_SECONDS = 5.0
_NS_PER_DAY = 86_400 * 10**9
_EPOCH = dt.date(1970, 1, 1)
SITE_MISS_REFRESH_SECONDS = 1.0
BACKGROUND_NICENESS = 10


class IngestService:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.countries = CountryLookup(settings.geoip_db)
        self.limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        self.wal: WriteAheadLog | None = None
        self._db: sqlite3.Connection | None = None
        self._sites: dict[str, int] = {}
        self._sites_loaded = 0.0
        self._salt_day: dt.date | None = None
        self._salt_day_number = -1
        self._salt = b""
        self._previous_salt: bytes | None = None
        # Publishing runs in its own process: turning rows into Parquet holds the GIL
        # for tens of milliseconds, which would stall every request in flight. Both
        # helpers run behind the requests in CPU priority: their work can wait (the log
        # holds the events), a beacon cannot.
        spawn = multiprocessing.get_context("spawn")
        behind = functools.partial(os.nice, BACKGROUND_NICENESS)
        self._publisher = ProcessPoolExecutor(1, spawn, initializer=behind)
        # A compaction holds a whole partition (today's included) at its peak: its
        # process leaves after each run rather than keeping that memory between runs.
        self._compaction_pool = ProcessPoolExecutor(
            1, spawn, initializer=behind, max_tasks_per_child=1
        )
        self._flusher: asyncio.Task[None] | None = None
        self._compactor: asyncio.Task[None] | None = None
        self._unpublished: list[Segment] = []
        self._closing = False
        self._stopping = asyncio.Event()

    # --- lifecycle -----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[IngestService]:
        self._db = control_db.open_database(self.settings.db_path)
        parse_user_agent("Mozilla/5.0")  # load the parser's rules now, not on a request
        self._rotate_salts(dt.datetime.now(dt.UTC))
        # Start-up objects never die: keep them out of the collector's full passes,
        # which otherwise pause every request in flight for tens of milliseconds.
        gc.freeze()
        self.wal = WriteAheadLog(self.settings.wal_dir, self.settings.wal_segment_bytes)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._publisher, warm_up)
        await self._publish_pending(claim_orphans(self.settings.wal_dir))
        self._flusher = asyncio.create_task(self._flush_loop(), name="pagepulse-flusher")
        self._compactor = asyncio.create_task(self._compact_loop(), name="pagepulse-compactor")
        self._compaction_pool.submit(os.getpid)  # its helper starts now, not at the first run
        try:
            yield self
        finally:
            # Let a flush in progress finish: cancelling it midway would leave the
            # segments it sealed unpublished until the next start.
            self._closing = True
            self._stopping.set()
            await self._flusher
            await self._compactor
            await self._publish_pending([*self._unpublished, *await self.wal.close()])
            self._publisher.shutdown(wait=True)
            self._compaction_pool.shutdown(wait=True)
            self._db.close()

    async def _flush_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.flush_seconds)
            if self._stopping.is_set():
                return
            try:
                await self.flush()
            except Exception:  # keep flushing: the log still holds everything
                log.exception("flush failed; events stay in the write-ahead log")

    async def _compact_loop(self) -> None:
        """Compaction runs in a process of its own, so a long one never delays
        publishing; with several workers the lake's lock lets one of them do it."""
        loop = asyncio.get_running_loop()
        in_flight = functools.partial(still_logged, self.settings.wal_dir)
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.compact_seconds)
            if self._stopping.is_set():
                return
            # Retention first, with the sites' settings read here (the job gets plain data).
            job = functools.partial(
                enforce_retention_and_compact,
                self.settings.events_dir,
                retention_by_site(self._db),
                in_flight=in_flight,
            )
            try:
                await loop.run_in_executor(self._compaction_pool, job)
            except CompactionBusy:
                continue
            except Exception:
                log.exception("compaction failed; the lake is unchanged where it failed")

    async def flush(self) -> None:
        """Seal the current segment and publish it with any orphans and leftovers."""
        assert self.wal is not None
        segments = [*self._unpublished, *await self.wal.rotate()]
        segments += claim_orphans(self.settings.wal_dir)
        self._unpublished = []
        await self._publish_pending(segments)
        if segments:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._publisher, give_back_memory)
        now = dt.datetime.now(dt.UTC)
        if now.date() != self._salt_day:  # midnight UTC: delete the expired salt now
            self._rotate_salts(now)

    async def _publish_pending(self, segments: list[Segment]) -> None:
        loop = asyncio.get_running_loop()
        for index, segment in enumerate(segments):
            try:
                await loop.run_in_executor(
                    self._publisher, publish_segment, segment.path, self.settings.events_dir
                )
            except Exception:
                # e.g. the disk is full: keep the segment (and its lock) and retry later.
                self._unpublished.extend(segments[index:])
                log.warning(
                    "could not publish %d log segment(s); will retry", len(segments) - index
                )
                return
            if segment.owned and self.wal is not None and not self._closing:
                await self.wal.recycle(segment)  # ours: reuse the preallocated file
            else:
                segment.release(delete=True)  # an orphan, or shutting down

    # --- lookups on the request path ------------------------------------------------

    def site_id(self, domain: str) -> int | None:
        now = time.monotonic()
        if now - self._sites_loaded > SITE_CACHE_SECONDS:
            self._load_sites(now)
        site = self._sites.get(domain)
        if site is None and now - self._sites_loaded > SITE_MISS_REFRESH_SECONDS:
            self._load_sites(now)
            site = self._sites.get(domain)
        return site

    def _load_sites(self, now: float) -> None:
        assert self._db is not None
        self._sites = domain_map(self._db)
        self._sites_loaded = now

    def salt(self, now_ns: int) -> bytes:
        """Today's salt (UTC), from memory except on the first event of a day."""
        if now_ns // _NS_PER_DAY != self._salt_day_number:
            self._rotate_salts(dt.datetime.fromtimestamp(now_ns / 1e9, dt.UTC))
        return self._salt

    def previous_salt(self, now_ns: int) -> bytes | None:
        """Yesterday's salt in the first 30 minutes of a UTC day (None otherwise, or when
        it does not exist): events then also carry their ``prev_visitor_id``, so that a
        visit running across midnight is counted once. Call after :meth:`salt`."""
        if now_ns % _NS_PER_DAY >= PREVIOUS_DAY_WINDOW_US * 1000:
            return None
        return self._previous_salt

    def _rotate_salts(self, now: dt.datetime) -> None:
        assert self._db is not None
        self._salt = salts.rotate(self._db, now)
        self._salt_day = now.date()
        self._salt_day_number = (self._salt_day - _EPOCH).days
        self._previous_salt = salts.existing_salt(self._db, self._salt_day - dt.timedelta(days=1))
