"""The write-ahead log: an event is on disk before its 202, with one fsync per batch.

Each worker appends to its own segment file ``wal/<worker>-<seq>.seg`` and holds an
exclusive ``flock`` on it for as long as the segment is its own. Requests queue
their records; one commit at a time writes everything queued and fsyncs once (group
commit), then wakes every waiting request. Records are framed as
``<u32 length><u32 crc32><payload>`` so a torn tail (a write cut by a crash, never
acknowledged) is detected and ignored on replay.

Every ``flush_seconds`` the service seals the segment (``rotate``) and the writer
turns it into Parquet; only then is the segment deleted. A segment whose lock can be
taken belongs to a dead worker: ``claim_orphans`` hands it to the writer again.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import secrets
import struct
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

_HEADER = struct.Struct("<II")
SEGMENT_SUFFIX = ".seg"


class LogWriteFailed(OSError):
    """The batch could not be made durable (e.g. the disk is full): answer 503."""


@dataclass
class Segment:
    path: Path
    fd: int  # holds the flock until the segment is published and deleted

    def release(self, *, delete: bool) -> None:
        if delete:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)


def frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def read_records(path: Path) -> Iterator[bytes]:
    """Every intact record of a segment, stopping at the first torn or corrupt one."""
    data = path.read_bytes()
    offset, end = 0, len(data)
    while offset + _HEADER.size <= end:
        length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        if start + length > end:
            return
        payload = data[start : start + length]
        if zlib.crc32(payload) != crc:
            return
        yield payload
        offset = start + length


def _lock(path: Path, flags: int) -> int | None:
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def claim_orphans(wal_dir: Path) -> list[Segment]:
    """Segments no live worker holds (their writer died): now ours to publish."""
    claimed = []
    for path in sorted(wal_dir.glob(f"*{SEGMENT_SUFFIX}")):
        try:
            fd = _lock(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # published and deleted by its owner meanwhile
        if fd is None:
            continue
        if not path.exists():  # deleted between glob and lock
            os.close(fd)
            continue
        claimed.append(Segment(path, fd))
    return claimed


class WriteAheadLog:
    """One worker's log. ``append`` is called on the event loop; file I/O runs on a
    single dedicated thread, so writes, fsyncs and rotations never interleave."""

    def __init__(self, wal_dir: Path):
        self.wal_dir = wal_dir
        wal_dir.mkdir(parents=True, exist_ok=True)
        self.worker = f"{int(time.time())}-{os.getpid()}-{secrets.token_hex(3)}"
        self._seq = 0
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal")
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._committing = False
        self._commit_task: asyncio.Task[None] | None = None
        self._segment = self._open_segment()
        self._size = 0  # bytes known durable in the current segment
        self.records_in_segment = 0

    def _open_segment(self) -> Segment:
        self._seq += 1
        path = self.wal_dir / f"{self.worker}-{self._seq:08d}{SEGMENT_SUFFIX}"
        fd = _lock(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND)
        assert fd is not None, "a fresh segment cannot be locked by anyone else"
        fd_dir = os.open(self.wal_dir, os.O_RDONLY)
        try:
            os.fsync(fd_dir)  # the new name itself must survive a crash
        finally:
            os.close(fd_dir)
        self._size = 0
        self.records_in_segment = 0
        return Segment(path, fd)

    async def append(self, payload: bytes) -> None:
        """Returns once the record is durable; raises ``LogWriteFailed`` otherwise."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((frame(payload), future))
        if not self._committing:
            self._committing = True
            self._commit_task = loop.create_task(self._commit_loop())
        await future

    async def _commit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                data = b"".join(record for record, _ in batch)
                try:
                    await loop.run_in_executor(self._io, self._write_durably, data, len(batch))
                except OSError as exc:
                    error = LogWriteFailed(exc.errno or errno.EIO, f"write-ahead log: {exc}")
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
        finally:
            self._committing = False

    def _write_durably(self, data: bytes, count: int) -> None:
        fd = self._segment.fd
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fdatasync(fd)
        except OSError:
            # Drop the partial batch so the segment ends on a record boundary; the
            # callers get 503 and nothing of theirs will be replayed as acknowledged.
            try:
                os.ftruncate(fd, self._size)
            except OSError:
                self._segment = self._reopen_after_failure()
            raise
        self._size += len(data)
        self.records_in_segment += count

    def _reopen_after_failure(self) -> Segment:
        old = self._segment
        try:
            return self._open_segment()
        except OSError:
            return old

    async def rotate(self) -> Segment | None:
        """Seal the current segment and start a new one. Returns the sealed segment
        (still locked, for the writer), or None when it held no records."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, self._rotate)

    def _rotate(self) -> Segment | None:
        if self.records_in_segment == 0:
            return None
        sealed = self._segment
        try:
            self._segment = self._open_segment()
        except OSError:
            return None  # no room for a new segment: keep appending to this one
        return sealed

    async def close(self) -> Segment | None:
        """Seal the last segment; the caller publishes it. No appends after this."""
        loop = asyncio.get_running_loop()
        while self._committing or self._pending:
            await asyncio.sleep(0.001)
        segment = self._segment
        await loop.run_in_executor(self._io, lambda: None)
        self._io.shutdown(wait=True)
        if self.records_in_segment == 0:
            segment.release(delete=True)
            return None
        return segment
