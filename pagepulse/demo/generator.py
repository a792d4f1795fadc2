"""Realistic, fast, deterministic traffic for the demo site, the tests and the benchmarks.

One call makes one site's local day as a pyarrow Table in exactly ``EVENT_SCHEMA``::

    spec = SiteSpec(site_id=1, domain="example.com", timezone="Europe/Berlin", daily_visitors=4000)
    table = generate_site_day(spec, date(2025, 3, 1), np.random.default_rng(0))

    for site_id, local_day, table in generate(specs, start=date(2025, 3, 1), days=30, seed=7):
        ...
    write_lake(settings.events_dir, generate(benchmark_specs(10_000_000, 30), start, 30))

The model, all vectorised with numpy (no Python loop per visitor or event):

- visitors per day: Poisson around ``daily_visitors`` times a weekday factor;
- per visitor: one platform (device, OS, browser and versions), screen width inside the
  device's bucket, and country, fixed for the whole day; visits (sessions) 1..6, each
  starting more than 30 minutes after the previous one ended, the first at a time drawn
  from a diurnal curve in the site's timezone;
- per visit: 1..30 pageviews (geometric, about half are bounces) seconds to minutes apart
  (always under 30 minutes), Zipf-distributed pathnames; only the entry pageview carries
  the referrer and UTM tags (``referrer`` and ``referrer_source`` as the ingest
  enrichment makes them, so a utm_source names the source); a few visits end with a
  custom event with props;
- visits start inside the local day but may run past local midnight;
- ``visitor_id`` is a random 64-bit id per visitor mixed with the UTC day of each event,
  as the real daily-rotating salt does: a visit across UTC midnight shows two ids, and
  events of the first 30 minutes of a UTC day carry the previous day's id in
  ``prev_visitor_id``, as ingest stores them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from pagepulse.demo import vocabulary as vocab
from pagepulse.ingest.enrich.referrer import referrer_source
from pagepulse.lake.importer import US_PER_DAY, split_by_utc_day
from pagepulse.lake.layout import partition_dir, publish_table
from pagepulse.lake.schema import EVENT_SCHEMA, PREVIOUS_DAY_WINDOW_US

SESSION_TIMEOUT_S = 30 * 60
BOUNCE_PROBABILITY = 0.5
MAX_PAGEVIEWS_PER_VISIT = 30
MAX_VISITS_PER_VISITOR = 6

# Average events a visitor produces under the model above (measured over 30 days of a
# mid-sized site; tests/demo checks that benchmark_specs hits its target within 10%).
EVENTS_PER_VISITOR = 2.62

BENCHMARK_TIMEZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "America/Los_Angeles",
    "Australia/Sydney",
    "Europe/London",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "Pacific/Auckland",
)

_DEVICES = ("mobile", "tablet", "laptop", "desktop")
_PLATFORM_DEVICE = np.array(
    [_DEVICES.index(device) for device in vocab.PLATFORMS.columns["device"].to_pylist()]
)
_COUNTRY_INDEX = {c: i for i, c in enumerate(vocab.COUNTRIES.columns["country"].to_pylist())}
_REFERRER_URLS = [url for url, _ in vocab.REFERRER_URLS]
_REFERRER_P = np.array([weight for _, weight in vocab.REFERRER_URLS])
_REFERRER_P = _REFERRER_P / _REFERRER_P.sum()
_IS_NEWSLETTER = np.isin(_REFERRER_URLS, vocab.NEWSLETTER_REFERRERS)
# What ingest stores for each (Referer, utm_source) pair: a utm_source names the source.
_UTM_SOURCES = vocab.UTM_TAGS.columns["utm_source"].to_pylist()
_CLEAN_REFERRERS = pa.array([referrer_source(url, "")[0] for url in _REFERRER_URLS], pa.string())
_SOURCES = pa.array(
    [referrer_source(url, "", utm)[1] for url in _REFERRER_URLS for utm in _UTM_SOURCES],
    pa.string(),
)
_EVENT_NAMES = pa.array([name for name, _, _ in vocab.EVENTS], pa.string())
_CUSTOM_EVENT_P = np.array([weight for _, _, weight in vocab.EVENTS[1:]])
_CUSTOM_EVENT_P = _CUSTOM_EVENT_P / _CUSTOM_EVENT_P.sum()
_PROP_COUNTS = np.array([len(props) for _, props, _ in vocab.EVENTS])
_PROP_STARTS = np.cumsum(_PROP_COUNTS) - _PROP_COUNTS
_PROP_KEYS = pa.array([key for _, props, _ in vocab.EVENTS for key in props], pa.string())
_PROP_VALUES = pa.array(
    [value for _, props, _ in vocab.EVENTS for value in props.values()], pa.string()
)


@dataclass(frozen=True, slots=True)
class SiteSpec:
    site_id: int
    domain: str
    timezone: str
    daily_visitors: int


def generate_site_day(spec: SiteSpec, day: dt.date, rng: np.random.Generator) -> pa.Table:
    """Every event of the visitors whose day starts on ``day`` in the site's timezone.

    Rows are in no particular order and may fall on three UTC days; see ``write_lake``.
    """
    tz = ZoneInfo(spec.timezone)
    midnight = dt.datetime.combine(day, dt.time(), tz)
    next_midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)
    day_seconds = (next_midnight - midnight).total_seconds()  # 23 or 25 h on DST days

    n_visitors = int(rng.poisson(spec.daily_visitors * vocab.WEEKDAY_FACTORS[day.weekday()]))
    visits_per_visitor = np.minimum(rng.geometric(0.72, n_visitors), MAX_VISITS_PER_VISITOR)
    visit_visitor = np.repeat(np.arange(n_visitors), visits_per_visitor)
    n_visits = len(visit_visitor)

    pageviews = np.minimum(rng.geometric(BOUNCE_PROBABILITY, n_visits), MAX_PAGEVIEWS_PER_VISIT)
    pv_visit = np.repeat(np.arange(n_visits), pageviews)
    pv_is_entry = _rank_in_group(pageviews) == 0
    pv_gaps = np.clip(rng.lognormal(np.log(40.0), 1.1, len(pv_visit)), 2.0, 1500.0)
    pv_offset = _group_cumsum(np.where(pv_is_entry, 0.0, pv_gaps), pageviews)
    paths, path_p = vocab.site_paths(spec.site_id)
    pv_path = rng.choice(len(paths), len(pv_visit), p=path_p)

    # A few visits end with one custom event shortly after their last pageview.
    last_pv = np.cumsum(pageviews) - 1
    ce_visit = np.flatnonzero(rng.random(n_visits) < vocab.CUSTOM_EVENT_VISIT_SHARE)
    ce_offset = pv_offset[last_pv[ce_visit]] + rng.uniform(1.0, 90.0, len(ce_visit))
    ce_kind = 1 + rng.choice(len(_CUSTOM_EVENT_P), len(ce_visit), p=_CUSTOM_EVENT_P)
    visit_length = pv_offset[last_pv]
    visit_length[ce_visit] = ce_offset

    # The next visit starts a session timeout plus minutes to hours after the last ended.
    first_start = (
        rng.choice(24, n_visitors, p=vocab.HOURLY_WEIGHTS) + rng.random(n_visitors)
    ) * 3600
    is_first_visit = _rank_in_group(visits_per_visitor) == 0
    pause = SESSION_TIMEOUT_S + 60 + rng.exponential(3 * 3600, n_visits)
    previous_length = np.concatenate(([0.0], visit_length[:-1]))
    step = np.where(is_first_visit, 0.0, previous_length + pause)
    visit_start = first_start[visit_visitor] + _group_cumsum(step, visits_per_visitor)

    referrer = rng.choice(len(_REFERRER_P), n_visits, p=_REFERRER_P)
    tagged = rng.random(n_visits) < vocab.UTM_TAGGED_SHARE
    utm = np.where(
        tagged, rng.choice(len(vocab.UTM_TAGS), n_visits, p=vocab.UTM_TAGS.probabilities), 0
    )
    utm = np.where(_IS_NEWSLETTER[referrer], vocab.UTM_NEWSLETTER_ROW, utm)

    event_visit = np.concatenate((pv_visit, ce_visit))
    event_offset = np.concatenate((pv_offset, ce_offset))
    event_path = np.concatenate((pv_path, pv_path[last_pv[ce_visit]]))
    event_kind = np.concatenate((np.zeros(len(pv_visit), np.int64), ce_kind))
    event_is_entry = np.concatenate((pv_is_entry, np.zeros(len(ce_visit), bool)))
    # Visits start inside the local day; later ones of the visitor belong to the next day.
    keep = visit_start[event_visit] < day_seconds
    event_visit, event_offset, event_path, event_kind, event_is_entry = (
        a[keep] for a in (event_visit, event_offset, event_path, event_kind, event_is_entry)
    )

    midnight_us = int(midnight.timestamp()) * 1_000_000
    ts = midnight_us + ((visit_start[event_visit] + event_offset) * 1e6).astype(np.int64)
    event_visitor = visit_visitor[event_visit]
    visitors = _Visitors.draw(spec, n_visitors, rng)
    visitor_id = _day_scoped_id(visitors.base_id[event_visitor], ts // US_PER_DAY)
    # As ingest does: the first 30 minutes of a UTC day also carry yesterday's id.
    early = ts % US_PER_DAY < PREVIOUS_DAY_WINDOW_US
    early_base = visitors.base_id[event_visitor[early]]
    previous_id = _day_scoped_id(early_base, ts[early] // US_PER_DAY - 1)
    event_referrer = np.where(event_is_entry, referrer[event_visit], 0)
    event_utm = np.where(event_is_entry, utm[event_visit], 0)
    platform = visitors.platform[event_visitor]
    n = len(ts)

    columns = {
        "ts": pa.array(ts, EVENT_SCHEMA.field("ts").type),
        "visitor_id": pa.array(visitor_id, pa.uint64()),
        "name": _EVENT_NAMES.take(event_kind),
        "hostname": pa.array([spec.domain], pa.string()).take(np.zeros(n, np.int64)),
        "pathname": paths.take(event_path),
        "referrer": _CLEAN_REFERRERS.take(event_referrer),
        "referrer_source": _SOURCES.take(event_referrer * len(_UTM_SOURCES) + event_utm),
        **{k: v.take(event_utm) for k, v in vocab.UTM_TAGS.columns.items()},
        "country": vocab.COUNTRIES.columns["country"].take(visitors.country[event_visitor]),
        **{k: v.take(platform) for k, v in vocab.PLATFORMS.columns.items()},
        "screen_width": pa.array(visitors.screen_width[event_visitor], pa.uint16()),
        "props": _props(event_kind),
        "prev_visitor_id": _where(early, previous_id),
    }
    return pa.Table.from_arrays([columns[name] for name in EVENT_SCHEMA.names], schema=EVENT_SCHEMA)


def generate(
    specs: Iterable[SiteSpec], start: dt.date, days: int, seed: int = 0
) -> Iterator[tuple[int, dt.date, pa.Table]]:
    """(site_id, local day, table) for each day from ``start``, each site within a day.

    Each site-day has its own random stream from (seed, site, day), so a site-day is the
    same whichever other sites or days are generated with it.
    """
    specs = list(specs)
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        for spec in specs:
            rng = np.random.default_rng([seed, spec.site_id, day.toordinal()])
            yield spec.site_id, day, generate_site_day(spec, day, rng)


def benchmark_specs(total_events: int, days: int, sites: int = 20) -> list[SiteSpec]:
    """About ``total_events`` over ``days`` across ``sites`` sites; site 1 has ~90% of them.

    The others share the rest by a Zipf curve; timezones rotate through a varied list.
    """
    small = 1.0 / np.arange(1, sites, dtype=np.float64)
    shares = np.concatenate(([0.9], 0.1 * small / small.sum())) if sites > 1 else np.ones(1)
    visitors_per_day = total_events / (days * EVENTS_PER_VISITOR)
    return [
        SiteSpec(
            site_id=i + 1,
            domain=f"site{i + 1}.example.com",
            timezone=BENCHMARK_TIMEZONES[i % len(BENCHMARK_TIMEZONES)],
            daily_visitors=max(1, round(share * visitors_per_day)),
        )
        for i, share in enumerate(shares)
    ]


def write_lake(
    events_dir: Path, site_day_tables: Iterable[tuple[int, dt.date, pa.Table]]
) -> list[Path]:
    """Publish generated tables as ``generated-<uuid>.parquet``, one file per (site, UTC day).

    A local day's rows fall on up to three UTC days, so rows wait per site until no later
    local day can add to their UTC day: with days in order (as ``generate`` yields them)
    each partition gets one file and at most a few days per site are held in memory.
    Out-of-order input is still correct, only split over more files.
    """
    pending: dict[int, dict[dt.date, list[pa.Table]]] = defaultdict(lambda: defaultdict(list))
    written: list[Path] = []
    for site_id, local_day, table in site_day_tables:
        for utc_day, part in split_by_utc_day(table):
            pending[site_id][utc_day].append(part)
        # UTC day U gets rows from local days up to U + 1 at most: once local day D is in,
        # every U < D is complete.
        written += _publish(events_dir, site_id, pending[site_id], before=local_day)
    for site_id, days in pending.items():
        written += _publish(events_dir, site_id, days, before=dt.date.max)
    return written


def _publish(
    events_dir: Path, site_id: int, days: dict[dt.date, list[pa.Table]], before: dt.date
) -> list[Path]:
    written = []
    for utc_day in sorted(d for d in days if d < before):
        # Parts from several local days: each sorted, but not the whole.
        table = pa.concat_tables(days.pop(utc_day))
        name = f"generated-{uuid.uuid4().hex}.parquet"
        written.append(publish_table(table, partition_dir(events_dir, site_id, utc_day) / name))
    return written


@dataclass(frozen=True, slots=True)
class _Visitors:
    base_id: np.ndarray
    platform: np.ndarray
    country: np.ndarray
    screen_width: np.ndarray

    @classmethod
    def draw(cls, spec: SiteSpec, n: int, rng: np.random.Generator) -> _Visitors:
        platform = rng.choice(len(vocab.PLATFORMS), n, p=vocab.PLATFORMS.probabilities)
        device = _PLATFORM_DEVICE[platform]
        screen_width = np.zeros(n, np.uint16)
        for code, name in enumerate(_DEVICES):
            widths, weights = vocab.SCREEN_WIDTHS[name]
            mask = device == code
            screen_width[mask] = rng.choice(widths, int(mask.sum()), p=weights / weights.sum())
        country = rng.choice(len(vocab.COUNTRIES), n, p=vocab.COUNTRIES.probabilities)
        home = _COUNTRY_INDEX.get(vocab.HOME_COUNTRY.get(spec.timezone, ""))
        if home is not None:
            country = np.where(rng.random(n) < vocab.HOME_COUNTRY_SHARE, home, country)
        base_id = rng.integers(0, np.iinfo(np.uint64).max, n, dtype=np.uint64, endpoint=True)
        return cls(base_id, platform, country, screen_width)


def _rank_in_group(counts: np.ndarray) -> np.ndarray:
    """0, 1, … within each consecutive group of the given sizes."""
    starts = np.cumsum(counts) - counts
    return np.arange(int(counts.sum())) - np.repeat(starts, counts)


def _group_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Running sum restarting at each consecutive group of the given sizes."""
    running = np.cumsum(values)
    before_group = running[np.cumsum(counts) - counts] - values[np.cumsum(counts) - counts]
    return running - np.repeat(before_group, counts)


def _day_scoped_id(base_id: np.ndarray, utc_day: np.ndarray) -> np.ndarray:
    """splitmix64 of (visitor, UTC day): a new unrelated id each UTC day, like a rotated salt."""
    z = base_id + utc_day.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _where(mask: np.ndarray, values: np.ndarray) -> pa.Array:
    """``values`` at the rows of ``mask``, NULL elsewhere (a uint64 column)."""
    full = np.zeros(len(mask), np.uint64)
    full[mask] = values
    return pa.array(full, pa.uint64(), mask=~mask)


def _props(kind: np.ndarray) -> pa.MapArray:
    counts = _PROP_COUNTS[kind]
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    starts = np.repeat(_PROP_STARTS[kind] - offsets[:-1], counts)
    entries = starts + np.arange(offsets[-1])
    return pa.MapArray.from_arrays(
        offsets,
        _PROP_KEYS.take(entries),
        _PROP_VALUES.take(entries),
        EVENT_SCHEMA.field("props").type,
    )
