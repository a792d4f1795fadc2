import asyncio
import errno
import os

import pytest

from pagepulse.ingest.wal import (
    LogWriteFailed,
    WriteAheadLog,
    claim_orphans,
    frame,
    read_records,
)


def test_records_round_trip_and_torn_tail_is_ignored(tmp_path):
    path = tmp_path / "x.seg"
    path.write_bytes(frame(b"one") + frame(b"two") + frame(b"three")[:-2])
    assert list(read_records(path)) == [b"one", b"two"]


def test_corrupt_record_stops_replay(tmp_path):
    good, bad = frame(b"first"), bytearray(frame(b"second"))
    bad[-1] ^= 0xFF
    path = tmp_path / "x.seg"
    path.write_bytes(good + bytes(bad) + frame(b"third"))
    assert list(read_records(path)) == [b"first"]


async def _append_many(wal: WriteAheadLog, n: int) -> None:
    await asyncio.gather(*(wal.append(f"r{i}".encode()) for i in range(n)))


def test_group_commit_writes_every_record_once(tmp_path):
    async def main():
        wal = WriteAheadLog(tmp_path)
        await _append_many(wal, 500)
        sealed = await wal.rotate()
        assert sealed is not None
        records = list(read_records(sealed.path))
        sealed.release(delete=True)
        assert await wal.close() is None  # the new segment is empty: removed
        return records

    records = asyncio.run(main())
    assert sorted(records) == sorted(f"r{i}".encode() for i in range(500))
    assert list(tmp_path.glob("*.seg")) == []


def test_live_segments_are_not_orphans_but_dead_ones_are(tmp_path):
    async def main():
        wal = WriteAheadLog(tmp_path)
        await wal.append(b"x")
        assert claim_orphans(tmp_path) == []  # locked by this live writer
        segment = await wal.close()
        assert segment is not None
        segment.release(delete=False)  # as if the process died before publishing
        orphans = claim_orphans(tmp_path)
        assert [o.path for o in orphans] == [segment.path]
        assert list(read_records(orphans[0].path)) == [b"x"]
        for o in orphans:
            o.release(delete=True)

    asyncio.run(main())


def test_failed_write_raises_and_truncates(tmp_path, monkeypatch):
    async def main():
        wal = WriteAheadLog(tmp_path)
        await wal.append(b"kept")
        real_fdatasync = os.fdatasync

        def full(fd):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fdatasync", full)
        with pytest.raises(LogWriteFailed):
            await wal.append(b"lost")
        monkeypatch.setattr(os, "fdatasync", real_fdatasync)
        await wal.append(b"after")
        segment = await wal.close()
        records = list(read_records(segment.path))
        segment.release(delete=True)
        return records

    assert asyncio.run(main()) == [b"kept", b"after"]
