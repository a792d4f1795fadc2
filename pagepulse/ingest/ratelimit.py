"""Per-site token buckets, in memory, one set per worker process."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


class RateLimiter:
    def __init__(self, rate_per_second: float, burst: int):
        self.rate = rate_per_second
        self.burst = float(burst)
        self._buckets: dict[int, _Bucket] = {}

    def retry_after(self, key: int, now: float | None = None) -> float:
        """0 when the event may pass (a token is taken), else seconds to wait."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate
