"""Quarantine: a lake file that cannot be read is moved aside, kept, and reported.

A damaged Parquet file (truncated, overwritten, empty, another schema, a page that
does not decode) must not take the dashboard down, nor block compaction of its
partition forever. Readers never see such a file twice:

* :func:`screen` (called by ``layout.live_files``) opens each file's footer once
  (cached by path, size and mtime) and checks its schema, so every reader, compaction
  and export skip a file whose footer or columns are wrong;
* :func:`read_each` wraps a reader's per-file reads: a file that fails to decode is
  checked in full on its own, and only when that check fails too is it quarantined and
  left out, so a transient error (a file replaced or deleted meanwhile, no memory)
  never moves a good file;
* :func:`check_lake` (``pagepulse lake check``) decodes every page of every file.

Quarantining renames the file (one atomic step, never a delete: an operator may
recover it) to ``data/quarantine/<path under data>.<UTC timestamp>`` with a JSON note
``<that name>.json`` holding the error, logs one WARNING, and :func:`site_report`
tells the dashboard how many files of a site are set aside and why. Quarantined files
still hold a site's events: deleting the site, and its retention, delete them too.

Only files under their final ``*.parquet`` name are ever looked at: writers publish
through a hidden temporary and a rename (``layout.publish_table``, the importer's
staging), so a visible file is complete and a file being written is never judged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from pagepulse.lake import layout  # which imports this module: used at call time only
from pagepulse.lake.schema import EVENT_SCHEMA

log = logging.getLogger("pagepulse.lake")

QUARANTINE_DIR = "quarantine"
NOTE_SUFFIX = ".json"
# A lake root's folder name -> the schema its files must hold (every non-nullable
# column, each present column with its type). Other roots get the footer check only.
SCHEMAS: dict[str, pa.Schema] = {"events": EVENT_SCHEMA}
_REASON_CHARS = 300

T = TypeVar("T")


class Unreadable(Exception):
    """A file's footer, schema or pages are not what the lake holds."""


def is_content_error(exc: BaseException) -> bool:
    """Whether ``exc`` says something about the file's bytes rather than the system.

    pyarrow reports bad bytes as ArrowInvalid (a ValueError) or as an OSError without
    an errno (thrift, decompression); a missing file, a permission or a disk error
    carries an errno, and running out of memory says nothing about the file.
    """
    if isinstance(exc, Unreadable):
        return True
    if isinstance(exc, pa.ArrowMemoryError | MemoryError):
        return False
    if isinstance(exc, OSError):
        return exc.errno is None
    return isinstance(exc, pa.ArrowException)


def expected_schema(path: Path) -> pa.Schema | None:
    root = _lake_root(path)
    return SCHEMAS.get(root.name) if root is not None else None


def check_file(path: Path, *, full: bool = True) -> str | None:
    """Why ``path`` cannot be read (None: it can). The footer and the schema; with
    ``full``, every page of every column too. Raises OSError (e.g. FileNotFoundError)
    for a system error, which says nothing about the file."""
    try:
        parquet = pq.ParquetFile(path)
        _check_schema(parquet.schema_arrow, expected_schema(path))
        if full:
            for index in range(parquet.metadata.num_row_groups):
                parquet.read_row_group(index)
    except Exception as exc:
        if is_content_error(exc):
            return _reason(exc)
        raise
    return None


def _check_schema(actual: pa.Schema, expected: pa.Schema | None) -> None:
    if expected is None:
        return
    for wanted in expected:
        index = actual.get_field_index(wanted.name)
        if index < 0:
            if wanted.nullable:
                continue  # a column added later: older files lack it, readers see NULL
            raise Unreadable(f"schema mismatch: no column {wanted.name!r}")
        found = actual.field(index).type
        if not _same_type(found, wanted.type):
            raise Unreadable(
                f"schema mismatch: column {wanted.name!r} is {found}, expected {wanted.type}"
            )


def _same_type(found: pa.DataType, wanted: pa.DataType) -> bool:
    if pa.types.is_dictionary(found):
        found = found.value_type
    if pa.types.is_map(found) and pa.types.is_map(wanted):
        # Field names and nullability inside a map change on a Parquet round trip.
        return found.key_type == wanted.key_type and found.item_type == wanted.item_type
    return found == wanted


# -- listing: screen footers -----------------------------------------------------------


def screen(paths: Iterable[Path]) -> list[Path]:
    """``paths`` without the files whose footer or schema is unreadable; those are
    quarantined (a file checked once is not opened again until it changes)."""
    kept = []
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue  # gone since the listing (compacted away, quarantined)
        reason = _footer_problem(str(path), stat.st_size, stat.st_mtime_ns)
        if reason is None or (
            quarantine(path, reason, identity=_identity(stat)) is None and path.exists()
        ):
            kept.append(path)  # readable, or replaced since it was checked: readers check it
    return kept


@lru_cache(maxsize=1 << 16)
def _footer_problem(path: str, _size: int, _mtime_ns: int) -> str | None:
    try:
        return check_file(Path(path), full=False)
    except OSError:
        return None  # gone or unreadable for now: readers will say so


# -- reading: quarantine what does not decode ------------------------------------------


def read_each(paths: Iterable[Path], read: Callable[[Path], T]) -> list[tuple[Path, T]]:
    """``(path, read(path))`` for every path that reads. A file whose read fails on its
    content is checked in full on its own: quarantined and left out when that fails
    too, read once more when it does not. Other errors propagate."""
    results = []
    for path in paths:
        try:
            results.append((path, read(path)))
            continue
        except Exception as exc:
            if not is_content_error(exc):
                raise
            failure = exc
        stat = path.stat()
        reason = check_file(path)
        if reason is None:
            results.append((path, read(path)))  # it reads now: the failure was transient
            continue
        if quarantine(path, reason, identity=_identity(stat)) is None:
            raise failure  # it changed meanwhile: let the caller list and read again
    return results


def sweep(paths: Iterable[Path]) -> list[Path]:
    """Check every file in full and quarantine the unreadable ones; returns those.
    For readers that cannot tell which file failed (a DuckDB scan of many files)."""
    moved = []
    for path in paths:
        try:
            stat = path.stat()
            reason = check_file(path)
        except FileNotFoundError:
            continue
        if reason is not None and quarantine(path, reason, identity=_identity(stat)):
            moved.append(path)
    return moved


# -- moving aside ------------------------------------------------------------------------


def quarantine(
    path: Path, reason: str, *, identity: tuple[int, int, int] | None = None
) -> Path | None:
    """Move ``path`` to the quarantine folder with a note of ``reason``; returns where it
    went, or None when it is gone or (``identity``: inode, size, mtime) no longer the
    file that was checked."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    if identity is not None and _identity(stat) != identity:
        return None  # replaced under the same name since it was checked
    data_dir, relative = _placement(path)
    stamp = dt.datetime.now(dt.UTC)
    folder = data_dir / QUARANTINE_DIR / relative.parent
    target = folder / f"{relative.name}.{stamp:%Y%m%dT%H%M%S%fZ}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return None  # another reader moved it first
    layout.fsync_dir(path.parent)
    note = {
        "file": str(relative),
        "reason": reason,
        "quarantined_at": stamp.isoformat(timespec="seconds"),
        "bytes": stat.st_size,
    }
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(json.dumps(note, indent=2) + "\n")
    os.replace(temporary, target.with_name(target.name + NOTE_SUFFIX))
    layout.fsync_dir(target.parent)
    log.warning("quarantined unreadable lake file %s -> %s: %s", relative, target, reason)
    return target


def quarantine_dir(data_dir: Path) -> Path:
    return data_dir / QUARANTINE_DIR


def _placement(path: Path) -> tuple[Path, Path]:
    """(data dir, path under it): ``data/events/site_id=1/date=…/f.parquet`` gives
    ``data`` and ``events/site_id=1/date=…/f.parquet``."""
    root = _lake_root(path)
    base = root.parent if root is not None else path.parent
    return base, path.relative_to(base)


def _lake_root(path: Path) -> Path | None:
    """The folder holding ``site_id=<id>`` folders above ``path`` (``data/events``)."""
    for parent in path.parents:
        if parent.name.startswith("site_id="):
            return parent.parent
    return None


def _identity(stat: os.stat_result) -> tuple[int, int, int]:
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:_REASON_CHARS]


# -- reporting ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QuarantinedFile:
    path: Path  # where it is now
    file: str  # where it was, under the data dir
    reason: str
    quarantined_at: str
    bytes: int


@dataclass
class SiteReport:
    """What the dashboard tells a site's owner."""

    files: list[QuarantinedFile] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.files)

    def reasons(self) -> list[tuple[str, int]]:
        """Distinct reasons, most frequent first."""
        return Counter(f.reason for f in self.files).most_common()

    def __bool__(self) -> bool:
        return bool(self.files)


def quarantined(data_dir: Path, site_id: int | None = None) -> list[QuarantinedFile]:
    """Every quarantined file (of one site's events), oldest first."""
    root = quarantine_dir(data_dir)
    if site_id is not None:
        root = root / "events" / f"site_id={site_id}"
    if not root.is_dir():
        return []
    files = []
    for path in sorted(root.rglob("*")):
        if path.name.startswith(".") or path.suffix == NOTE_SUFFIX or not path.is_file():
            continue
        files.append(_describe(data_dir, path))
    return sorted(files, key=lambda f: (f.quarantined_at, f.file))


def site_report(data_dir: Path, site_id: int) -> SiteReport:
    return SiteReport(quarantined(data_dir, site_id))


def _describe(data_dir: Path, path: Path) -> QuarantinedFile:
    note: dict = {}
    # No note: the file was moved, then the process died before the note was written.
    with contextlib.suppress(OSError, ValueError):
        note = json.loads(path.with_name(path.name + NOTE_SUFFIX).read_text())
    relative = path.relative_to(quarantine_dir(data_dir))
    original = str(relative.with_name(relative.name.rsplit(".", 1)[0]))
    return QuarantinedFile(
        path=path,
        file=note.get("file", original),
        reason=note.get("reason", "unknown (no note was written)"),
        quarantined_at=note.get("quarantined_at", ""),
        bytes=int(note.get("bytes", path.stat().st_size)),
    )


# -- deleting: what deletes a site's events deletes its quarantined files too ---------


def delete_site(events_dir: Path, site_id: int) -> None:
    """Delete a site's quarantined files (the site is deleted), of every lake root:
    its events and the files derived from them."""
    for folder in _site_folders(events_dir, site_id):
        shutil.rmtree(folder, ignore_errors=True)


def delete_days_before(events_dir: Path, site_id: int, cutoff: dt.date) -> int:
    """Delete a site's quarantined files of the UTC days before ``cutoff`` (retention),
    of every lake root; returns how many day folders went."""
    deleted = 0
    for site in _site_folders(events_dir, site_id):
        for folder in sorted(site.glob("date=*")):
            try:
                day = dt.date.fromisoformat(folder.name[5:])
            except ValueError:
                continue
            if day < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                deleted += 1
    return deleted


def _site_folders(events_dir: Path, site_id: int) -> list[Path]:
    """``quarantine/<root>/site_id=<id>`` for every lake root (events, visits …)."""
    return sorted(quarantine_dir(events_dir.parent).glob(f"*/site_id={site_id}"))


# -- the whole lake ------------------------------------------------------------------------


@dataclass
class CheckResult:
    files: int = 0
    bytes: int = 0
    moved: list[QuarantinedFile] = field(default_factory=list)


def check_lake(events_dir: Path, site_id: int | None = None) -> CheckResult:
    """Decode every ``*.parquet`` file of the lake (or of one site) in full and quarantine
    the unreadable ones. Files a compacted file replaced are checked too: they become
    live again if that compacted file is quarantined."""
    result = CheckResult()
    sites = [events_dir / f"site_id={site_id}"] if site_id is not None else sorted(
        events_dir.glob("site_id=*")
    )  # fmt: skip
    data_dir = events_dir.parent
    for site in sites:
        for path in sorted(site.glob("date=*/*.parquet")):
            if path.name.startswith("."):
                continue
            try:
                stat = path.stat()
                reason = check_file(path)
            except FileNotFoundError:
                continue
            result.files += 1
            result.bytes += stat.st_size
            if reason is None:
                continue
            target = quarantine(path, reason, identity=_identity(stat))
            if target is not None:
                result.moved.append(_describe(data_dir, target))
    return result
