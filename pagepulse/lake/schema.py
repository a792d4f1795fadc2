"""The public event schema: column names, Arrow types, and the order of a row.

This is the contract of ``data/events`` (docs/lake.md). Missing values are empty
strings, never NULL; ``screen_width`` is 0 when unknown; ``props`` is an empty map when
there are none. The one nullable column is ``prev_visitor_id``: the visitor's id under
the previous UTC day's salt, set only on events of the first
``PREVIOUS_DAY_WINDOW_US`` after 00:00 UTC, so that a visit across midnight is counted
once (files written before it existed lack it; readers treat that as NULL).
``site_id`` and ``date`` are not columns in the files: they are the hive partition
keys of the folders.
"""

from __future__ import annotations

import pyarrow as pa

# Every column of an event, in file order. ``EVENT_COLUMNS`` is also the order of an
# event row as the ingest path carries it (a tuple), after the leading ``site_id``.
STRING_COLUMNS = (
    "name",
    "hostname",
    "pathname",
    "referrer",
    "referrer_source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "country",
    "browser",
    "browser_version",
    "os",
    "os_version",
    "device",
)

EVENT_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("visitor_id", pa.uint64(), nullable=False),
        *(pa.field(name, pa.string(), nullable=False) for name in STRING_COLUMNS),
        pa.field("screen_width", pa.uint16(), nullable=False),
        pa.field("props", pa.map_(pa.string(), pa.string()), nullable=False),
        pa.field("prev_visitor_id", pa.uint64(), nullable=True),
    ]
)

# Events this long after 00:00 UTC also carry ``prev_visitor_id`` (the session gap:
# only they can continue a visit of the previous day).
PREVIOUS_DAY_WINDOW_US = 30 * 60 * 1_000_000

EVENT_COLUMNS: tuple[str, ...] = tuple(EVENT_SCHEMA.names)

# Files are sorted by (visitor_id, ts): a visitor's events sit together, which
# compresses well and lets queries sessionise without a global shuffle.
SORT_KEYS = [("visitor_id", "ascending"), ("ts", "ascending")]

# Low-cardinality strings dictionary-encode; zstd on top.
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "row_group_size": 1_000_000,
}


def empty_columns() -> dict[str, list]:
    return {name: [] for name in EVENT_COLUMNS}
