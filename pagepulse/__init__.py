"""PagePulse: privacy-first web analytics over a Parquet lake.

Data flows one way: beacon -> ``ingest`` (endpoint, enrichment, salts, write-ahead
log, Parquet writer) -> ``lake`` (layout, import, compaction) -> ``query`` (DuckDB
SQL files in ``queries/``) -> ``web`` (pages and APIs). ``control`` is the small
SQLite control plane (users, sites, salts); ``cli`` ties it together.
"""

__version__ = "0.1.0"
