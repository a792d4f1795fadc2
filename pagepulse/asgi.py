"""The ASGI application: the ingestion route in front, FastAPI for everything else.

``uvicorn pagepulse.asgi:create_app --factory`` (what ``pagepulse serve`` runs).
"""

from __future__ import annotations

from pagepulse.config import Settings, get_settings
from pagepulse.ingest.endpoint import INGEST_PATHS, IngestEndpoint
from pagepulse.ingest.service import IngestService
from pagepulse.ingest.tracker import router as tracker_router
from pagepulse.ingest.tracker import tracker_size_gzip
from pagepulse.query import process as query_process
from pagepulse.reports import scheduler as report_scheduler
from pagepulse.web import custom_hosts, housekeeping, usage_check
from pagepulse.web.app import create_web_app


class PagePulseApp:
    def __init__(self, ingest: IngestEndpoint, web):
        self.ingest = ingest
        self.web = web

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] in INGEST_PATHS:
            await self.ingest(scope, receive, send)
        else:
            await self.web(scope, receive, send)


def create_app(settings: Settings | None = None) -> PagePulseApp:
    settings = settings or get_settings()
    tracker_size_gzip()  # fails now, naming `make assets`, when the tracker is not built
    service = IngestService(settings)
    hooks = [lambda _app: service.running()]
    # Dashboard and API queries run in a child process: they never stall a beacon.
    hooks.append(lambda _app: query_process.running())
    hooks.append(lambda _app: report_scheduler.running(settings))
    hooks.append(lambda _app: usage_check.running(settings))
    hooks.append(lambda _app: custom_hosts.rechecking(settings))
    hooks.append(lambda _app: housekeeping.running(settings))
    web = create_web_app(settings, lifespan_hooks=hooks)
    web.include_router(tracker_router)
    web.state.ingest = service
    return PagePulseApp(IngestEndpoint(service), web)
