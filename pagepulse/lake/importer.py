"""Importing events from a Parquet or CSV file in the public event schema (docs/lake.md).

``import_file(events_dir, site_id, path)`` reads the whole file, checks and converts it
column by column (pyarrow compute, no loop per row), splits it by the UTC day of ``ts``
and adds one new ``import-<uuid>.parquet`` to each day's partition.

All or nothing: every partition file is first published under a hidden staging name
(``.import-<uuid>.staged``, which no ``*.parquet`` glob matches), and only when all are
written are they renamed into place. A bad file therefore imports nothing (a disk error
while staging may leave an empty day folder behind: removing it could race the ingest
writer, and an empty folder holds no rows). A crash during
the final renames (a few ``rename`` calls) can leave some days imported and others not;
leftover ``.import-*.staged`` files are harmless and may be deleted.

Also here: ``split_by_utc_day``, the one way rows of any origin are cut into partitions.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pagepulse.lake.layout import fsync_dir, partition_dir, publish_table
from pagepulse.lake.schema import EVENT_COLUMNS, EVENT_SCHEMA

US_PER_DAY = 86_400 * 1_000_000
DEVICES = ("desktop", "laptop", "tablet", "mobile")
MAX_FUTURE = dt.timedelta(days=1)
REQUIRED_COLUMNS = ("ts", "visitor_id")

_EPOCH = dt.date(1970, 1, 1)
_TS_TYPE = EVENT_SCHEMA.field("ts").type
_PROPS_TYPE = EVENT_SCHEMA.field("props").type


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int
    partitions: int


def import_file(events_dir: Path, site_id: int, path: Path) -> ImportResult:
    """Add the events of a ``.parquet`` or ``.csv`` file to the site's partitions.

    Raises ValueError, naming the column, when the file does not fit the event schema;
    nothing is written then.
    """
    table = events_from_table(read_file(path))
    return publish_import(events_dir, site_id, table)


def read_file(path: Path) -> pa.Table:
    """The file's columns as they are; CSV columns are all read as text."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pq.ParquetFile(path).read()
    if suffix == ".csv":
        # Text only: inference would turn 64-bit visitor ids into floats and guess formats.
        return pl.read_csv(path, infer_schema=False).to_arrow()
    raise ValueError(f"{path.name}: expected a .parquet or .csv file")


def events_from_table(raw: pa.Table) -> pa.Table:
    """``raw`` checked and converted to exactly ``EVENT_SCHEMA``.

    Columns match by name, in any order. ``ts`` and ``visitor_id`` are required; other
    missing columns and NULLs become "" (``name``: "pageview"), 0, or an empty map
    (``prev_visitor_id`` stays NULL).
    """
    unknown = [name for name in raw.column_names if name not in EVENT_COLUMNS]
    if unknown:
        raise ValueError(
            f"unknown columns: {', '.join(unknown)} (expected some of: {', '.join(EVENT_COLUMNS)}; "
            "the site comes from the import command and the day from ts)"
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in raw.column_names]
    if missing:
        raise ValueError(f"missing required columns: {', '.join(missing)}")
    n = raw.num_rows
    columns = []
    for field in EVENT_SCHEMA:
        values = raw[field.name].combine_chunks() if field.name in raw.column_names else None
        if field.name == "ts":
            columns.append(_timestamps(values))
        elif field.name == "visitor_id":
            columns.append(_visitor_ids(values))
        elif field.name == "screen_width":
            columns.append(_screen_widths(values, n))
        elif field.name == "props":
            columns.append(_props(values, n))
        elif field.name == "prev_visitor_id":
            columns.append(_previous_ids(values, n))
        else:
            columns.append(_strings(field.name, values, n))
    return pa.Table.from_arrays(columns, schema=EVENT_SCHEMA)


def publish_import(events_dir: Path, site_id: int, table: pa.Table) -> ImportResult:
    """Stage one file per UTC day, then rename them all into place (see module doc)."""
    staged: list[tuple[Path, Path]] = []
    try:
        for day, part in split_by_utc_day(table):
            name = f"import-{uuid.uuid4().hex}"
            folder = partition_dir(events_dir, site_id, day)
            staging = publish_table(part, folder / f".{name}.staged", sort=False)
            staged.append((staging, folder / f"{name}.parquet"))
    except BaseException:
        for staging, _ in staged:
            staging.unlink(missing_ok=True)
        raise
    for staging, final in staged:
        os.replace(staging, final)
    for folder in {final.parent for _, final in staged}:
        fsync_dir(folder)
    return ImportResult(rows=table.num_rows, partitions=len(staged))


def split_by_utc_day(table: pa.Table) -> list[tuple[dt.date, pa.Table]]:
    """The rows of each UTC day of ``ts`` as (day, table), days ascending, each table
    already in the lake's order (``SORT_KEYS``: visitor_id, ts): publish with sort=False."""
    if table.num_rows == 0:
        return []
    ts = pc.cast(table["ts"], pa.int64()).to_numpy()
    days = ts // US_PER_DAY
    # One sort for both jobs: by day to cut, by (visitor_id, ts) within the day.
    order = np.lexsort((ts, table["visitor_id"].to_numpy(), days))
    table, days = table.take(order), days[order]
    bounds = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), len(days)]
    return [
        (_EPOCH + dt.timedelta(days=int(days[start])), table.slice(start, end - start))
        for start, end in itertools.pairwise(bounds)
    ]


def _timestamps(values: pa.Array) -> pa.Array:
    if _is_text(values.type):
        text = pc.utf8_trim_whitespace(values.cast(pa.string()))
        # ISO 8601; a time without an offset is taken as UTC.
        has_offset = pc.match_substring_regex(text, r"(Z|z|[+-]\d\d(:?\d\d)?)$")
        text = pc.if_else(has_offset, text, pc.binary_join_element_wise(text, "Z", ""))
        values = _convert("ts", text, _TS_TYPE)
    elif pa.types.is_timestamp(values.type):
        if values.type.tz is None:
            values = pc.assume_timezone(values, "UTC")
        values = _convert("ts", values, _TS_TYPE)
    else:
        raise ValueError(f"column 'ts': expected a timestamp or ISO 8601 text, got {values.type}")
    _require_all("ts", values)
    latest = dt.datetime.now(dt.UTC) + MAX_FUTURE
    future = pc.sum(pc.greater(values, pa.scalar(latest, _TS_TYPE))).as_py() or 0
    if future:
        raise ValueError(f"column 'ts': {future} rows are more than a day in the future")
    return values


def _visitor_ids(values: pa.Array) -> pa.Array:
    if not (pa.types.is_integer(values.type) or _is_text(values.type)):
        raise ValueError(f"column 'visitor_id': expected unsigned integers, got {values.type}")
    values = _convert("visitor_id", values, pa.uint64())
    _require_all("visitor_id", values)
    return values


def _previous_ids(values: pa.Array | None, n: int) -> pa.Array:
    """The optional, nullable ``prev_visitor_id``: NULL when missing or empty."""
    if values is None:
        return pa.nulls(n, pa.uint64())
    if not (pa.types.is_integer(values.type) or _is_text(values.type) or values.null_count == n):
        raise ValueError(f"column 'prev_visitor_id': expected unsigned integers, got {values.type}")
    if _is_text(values.type):
        values = pc.if_else(pc.equal(values, ""), None, values)
    return _convert("prev_visitor_id", values, pa.uint64())


def _screen_widths(values: pa.Array | None, n: int) -> pa.Array:
    if values is None:
        return pa.array(np.zeros(n, np.uint16))
    if not (pa.types.is_integer(values.type) or _is_text(values.type)):
        raise ValueError(f"column 'screen_width': expected integers, got {values.type}")
    if not pa.types.is_integer(values.type):
        values = pc.if_else(pc.equal(values, ""), None, values)
    return _convert("screen_width", values, pa.uint16()).fill_null(0)


def _strings(name: str, values: pa.Array | None, n: int) -> pa.Array:
    default = "pageview" if name == "name" else ""
    if values is None:
        return pa.array([default], pa.string()).take(np.zeros(n, np.int64))
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if not _is_text(values.type):
        raise ValueError(f"column {name!r}: expected text, got {values.type}")
    values = values.cast(pa.string()).fill_null(default)
    if name == "name":
        values = pc.if_else(pc.equal(values, ""), default, values)
    elif name == "country":
        values = pc.utf8_upper(values)
        _check(
            name,
            values,
            pc.match_substring_regex(values, r"^([A-Z]{2})?$"),
            "2-letter ISO codes or empty",
        )
    elif name == "device":
        values = pc.utf8_lower(values)
        allowed = pc.is_in(values, pa.array(["", *DEVICES]))
        _check(name, values, allowed, f"one of {', '.join(DEVICES)} or empty")
    return values


def _props(values: pa.Array | None, n: int) -> pa.Array:
    if values is None or values.null_count == len(values):
        return pa.MapArray.from_arrays(
            np.zeros(n + 1, np.int32),
            pa.array([], pa.string()),
            pa.array([], pa.string()),
            _PROPS_TYPE,
        )
    if pa.types.is_map(values.type):
        return _convert("props", values, _PROPS_TYPE).fill_null(pa.scalar([], _PROPS_TYPE))
    if not _is_text(values.type):
        raise ValueError(f"column 'props': expected a map or JSON object text, got {values.type}")
    # Props repeat a lot (a handful of events and values), so parse each distinct text once.
    text = values.cast(pa.string()).fill_null("")
    distinct = pc.unique(text)
    parsed = [_parse_props(value) for value in distinct.to_pylist()]
    lookup = pa.array(parsed, _PROPS_TYPE)
    return lookup.take(pc.index_in(text, distinct))


def _parse_props(text: str) -> list[tuple[str, str]]:
    if not text.strip():
        return []
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"column 'props': not JSON: {text[:80]!r}") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"column 'props': expected a JSON object, got {text[:80]!r}")
    pairs = []
    for key, value in obj.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif value is None:
            value = ""
        elif isinstance(value, int | float):
            value = str(value)
        elif not isinstance(value, str):
            raise ValueError(f"column 'props': values must be text or numbers, got {text[:80]!r}")
        pairs.append((key, value))
    return pairs


def _is_text(type_: pa.DataType) -> bool:
    return (
        pa.types.is_string(type_)
        or pa.types.is_large_string(type_)
        or pa.types.is_string_view(type_)
    )


def _convert(name: str, values: pa.Array, to: pa.DataType) -> pa.Array:
    try:
        return pc.cast(values, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(f"column {name!r}: cannot read as {to}: {exc}") from exc


def _require_all(name: str, values: pa.Array) -> None:
    if values.null_count:
        raise ValueError(
            f"column {name!r}: {values.null_count} rows are empty; every row needs one"
        )


def _check(name: str, values: pa.Array, ok: pa.Array, expected: str) -> None:
    bad = pc.invert(ok)
    count = pc.sum(bad).as_py() or 0
    if count:
        example = pc.filter(values, bad)[0].as_py()
        raise ValueError(f"column {name!r}: {count} rows are not {expected}, e.g. {example!r}")
