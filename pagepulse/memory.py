"""Handing freed memory back to the system in long-running helper processes.

Arrow's allocator (mimalloc or jemalloc) and glibc's malloc keep pages a process has
freed, to reuse them. In a process that builds something big now and then (today's
visits after a compaction, a year's range, a large log segment) that keeps its RSS at
the peak of the biggest build it ever made. The query process and the Parquet
publisher call :func:`give_back_memory` when they fall idle.
"""

from __future__ import annotations

import contextlib
import ctypes


def give_back_memory() -> None:
    """Return the free pages Arrow's allocator and glibc's malloc hold to the system."""
    import pyarrow as pa  # here: importing this module must stay cheap

    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)  # glibc only


M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def keep_malloc_compact(arenas: int = 2, mmap_threshold: int = 1 << 20) -> None:
    """Fewer malloc arenas, and big blocks always from mmap (returned when freed).

    glibc gives each thread that contends for memory an arena of its own (up to 8 per
    core) and raises its mmap threshold after a big block is freed, so later big blocks
    come from an arena and leave holes in it: a process whose threads keep building
    and dropping arrays grows by its fragments. Call before the threads start."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(M_ARENA_MAX, arenas)
        libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)
