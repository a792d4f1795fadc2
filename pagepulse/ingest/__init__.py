"""Ingestion: beacon -> validated, enriched event row -> write-ahead log -> Parquet.

``endpoint`` is the HTTP route (raw ASGI, for speed), ``payload`` parses the body,
``enrich`` derives browser/OS/device/source/country, ``salts`` and ``visitor`` make
the daily visitor id, ``wal`` makes an event durable before the 202, ``writer``
turns sealed log segments into lake files, ``service`` runs it all in one worker.
"""
