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
