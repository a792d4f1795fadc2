"""Run one engine in this (fresh) process and pickle its :class:`Measurement`.

``python -m pagepulse.bench.engines ENGINE LAKE RAW_LAKE SITE START END TZ NOW
REPEATS OUT``: a fresh process makes the first round really cold (no cache of the
query layer, no open file, no DuckDB or ClickHouse state) and its peak RSS the
engine's own. ``pagepulse.bench.dashboard`` starts it; nothing else should.
"""

from __future__ import annotations

import datetime as dt
import pickle
import sys
from pathlib import Path

from pagepulse.bench.engines import Request, run_engine
from pagepulse.query import Period


def main(argv: list[str]) -> None:
    name, lake, raw_lake, site, start, end, tz, now, repeats, out = argv
    period = Period(dt.date.fromisoformat(start), dt.date.fromisoformat(end), tz)
    request = Request(Path(lake), Path(raw_lake), int(site), period, dt.datetime.fromisoformat(now))
    measurement = run_engine(name, request, int(repeats))
    Path(out).write_bytes(pickle.dumps(measurement))


if __name__ == "__main__":
    main(sys.argv[1:])
