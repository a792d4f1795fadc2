import asyncio
import errno
import os
import struct
import zlib

import pytest

from pagepulse.ingest.wal import (
    LogWriteFailed,
    WriteAheadLog,
    claim_orphans,
    read_records,
)

SMALL = 1024 * 1024  # small segments keep the tests fast


def records_of(path):
    return list(read_records(path))


async def _append_many(wal: WriteAheadLog, n: int, prefix: str = "r") -> None:
    await asyncio.gather(*(wal.append(f"{prefix}{i}".encode()) for i in range(n)))


def test_group_commit_writes_every_record_once(tmp_path):
    async def main():
        wal = WriteAheadLog(tmp_path, segment_bytes=SMALL)
        await _append_many(wal, 500)
        [sealed] = await wal.rotate()
        records = records_of(sealed.path)
        sealed.release(delete=True)
        assert await wal.close() == []  # the new segment is empty: removed
        return records

    records = asyncio.run(main())
    assert sorted(records) == sorted(f"r{i}".encode() for i in range(500))
    assert list(tmp_path.iterdir()) == []


def test_recycled_segment_never_replays_its_old_records(tmp_path):
    async def main():
        wal = WriteAheadLog(tmp_path, segment_bytes=SMALL)
        await _append_many(wal, 300, "old")
        [first] = await wal.rotate()
        assert len(records_of(first.path)) == 300
        await wal.recycle(first)  # a spare now, reused by the next segment
        await wal.append(b"new-1")
        [second] = await wal.rotate()
        await wal.append(b"new-2")
        [third] = await wal.rotate()
        assert third.fd == first.fd  # the same preallocated file, renamed
        result = records_of(third.path)
        for s in (second, third):
            s.release(delete=True)
        await wal.close()
        return result

    assert asyncio.run(main()) == [b"new-2"]


def test_torn_tail_is_ignored(tmp_path):
    async def main():
        wal = WriteAheadLog(tmp_path, segment_bytes=SMALL)
        await wal.append(b"one")
        await wal.append(b"two")
        [segment] = await wal.close()
        return segment

    segment = asyncio.run(main())
    data = bytearray(segment.path.read_bytes())
    # Corrupt the last byte of "two": a write cut short by a crash.
    end = data.index(b"two") + 3
    data[end - 1] ^= 0xFF
    segment.path.write_bytes(bytes(data))
    assert records_of(segment.path) == [b"one"]
    segment.release(delete=True)


def test_full_segment_rolls_over(tmp_path):
    async def main():
        wal = WriteAheadLog(tmp_path, segment_bytes=64 * 1024)
        payload = b"x" * 1000
        for _ in range(200):  # ~200 KB through 64 KB segments
            await wal.append(payload)
        sealed = await wal.rotate()
        total = sum(len(records_of(s.path)) for s in sealed)
        for s in sealed:
            s.release(delete=True)
        await wal.close()
        return len(sealed), total

    count, total = asyncio.run(main())
    assert count >= 3 and total == 200


def test_live_segments_are_not_orphans_but_dead_ones_are(tmp_path):
    async def main():
        wal = WriteAheadLog(tmp_path, segment_bytes=SMALL)
        await wal.append(b"x")
        assert claim_orphans(tmp_path) == []  # locked by this live writer
        [segment] = await wal.close()
        segment.release(delete=False)  # as if the process died before publishing
        orphans = claim_orphans(tmp_path)
        assert [o.path for o in orphans] == [segment.path]
        assert records_of(orphans[0].path) == [b"x"]
        for o in orphans:
            o.release(delete=True)

    asyncio.run(main())


def test_failed_write_raises_and_is_not_replayed(tmp_path, monkeypatch):
    async def main():
        wal = WriteAheadLog(tmp_path, segment_bytes=SMALL)
        await wal.append(b"kept")
        real_fdatasync = os.fdatasync

        def full(fd):
            raise OSError(errno.EIO, "I/O error")

        monkeypatch.setattr(os, "fdatasync", full)
        with pytest.raises(LogWriteFailed):
            await wal.append(b"lost")
        monkeypatch.setattr(os, "fdatasync", real_fdatasync)
        await wal.append(b"after")
        [segment] = await wal.close()
        records = records_of(segment.path)
        segment.release(delete=True)
        return records

    assert asyncio.run(main()) == [b"kept", b"after"]


def test_segment_header_is_checked(tmp_path):
    path = tmp_path / "junk.seg"
    path.write_bytes(struct.pack("<II", 3, 0) + b"abc")
    assert records_of(path) == []


def test_a_spare_renamed_into_place_but_not_yet_headed_replays_nothing(tmp_path):
    async def main():
        wal = WriteAheadLog(tmp_path, segment_bytes=SMALL)
        await _append_many(wal, 10, "old")
        [first] = await wal.rotate()
        await wal.recycle(first)  # now a spare holding the old records' bytes
        spare = first.path
        # A crash right after the spare was renamed to a new segment name:
        crashed = tmp_path / "crashed-00000009.seg"
        os.replace(spare, crashed)
        first.path = crashed
        records = records_of(crashed)
        await wal.close()
        return records

    assert asyncio.run(main()) == []


def test_segments_with_one_record_per_frame_still_replay(tmp_path):
    """Segments of the first log format (magic PPWAL01) may be left by an upgrade."""
    nonce = 1234
    path = tmp_path / "old-00000001.seg"
    frames = b"".join(
        struct.pack("<II", len(p), zlib.crc32(p, nonce)) + p for p in (b"[1,2]", b"[3,4]")
    )
    path.write_bytes(struct.pack("<8sI4x", b"PPWAL01\x00", nonce) + frames + bytes(64))
    assert records_of(path) == [b"[1,2]", b"[3,4]"]


def test_a_torn_batch_is_dropped_whole_and_earlier_batches_stay(tmp_path):
    async def main():
        wal = WriteAheadLog(tmp_path, segment_bytes=SMALL)
        await wal.append(b"first")
        # Queued before the commit task runs: one batch, one frame.
        await asyncio.gather(*[wal.submit(f"b{i}".encode()) for i in range(10)])
        path, size = wal._segment.path, wal._offset
        [sealed] = await wal.rotate()
        sealed.release(delete=False)
        await wal.close()
        return path, size

    path, size = asyncio.run(main())
    data = bytearray(path.read_bytes())
    data[size - 3] ^= 0xFF  # corrupt the last batch's tail, as a torn write would
    path.write_bytes(bytes(data))
    assert records_of(path) == [b"first"]


def test_a_record_with_a_newline_is_refused(tmp_path):
    async def main():
        wal = WriteAheadLog(tmp_path, segment_bytes=SMALL)
        with pytest.raises(ValueError):
            await wal.append(b"two\nlines")
        await wal.close()

    asyncio.run(main())
