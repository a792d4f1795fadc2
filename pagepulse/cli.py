"""The ``pagepulse`` command: serve, manage users and sites, import, demo, bench.

Imports are inside the commands so ``pagepulse --help`` stays instant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from pagepulse.plan_cli import plan_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
user_app = typer.Typer(no_args_is_help=True, help="Manage user accounts.")
site_app = typer.Typer(no_args_is_help=True, help="Manage tracked sites.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks (loopback only, bounded).")
reports_app = typer.Typer(no_args_is_help=True, help="Email reports: send the due ones, preview.")
app.add_typer(user_app, name="user")
app.add_typer(site_app, name="site")
app.add_typer(bench_app, name="bench")
app.add_typer(reports_app, name="reports")
app.add_typer(plan_app, name="plan")


def _db():
    from pagepulse.config import get_settings
    from pagepulse.control.db import open_database

    return open_database(get_settings().db_path)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Serve the dashboard, the tracker and the ingestion route."""
    import uvicorn

    from pagepulse.config import get_settings
    from pagepulse.ingest.http import IngestHttpProtocol

    settings = get_settings()
    _db().close()  # migrate once before the workers start
    uvicorn.run(
        "pagepulse.asgi:create_app",
        factory=True,
        http=IngestHttpProtocol,  # beacons answered inside the HTTP protocol (ingest/http.py)
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # access logs would hold visitors' IP addresses
        proxy_headers=False,  # X-Forwarded-For is handled by pagepulse.net, trusted proxies only
        server_header=False,
        log_level=settings.log_level,
        timeout_graceful_shutdown=10,
    )


@user_app.command("add")
def user_add(email: str, password: Annotated[str | None, typer.Option(hidden=True)] = None) -> None:
    """Create a user. The password is read from stdin when piped, else prompted."""
    from pagepulse.control.users import UserExists, create_user

    if password is None:
        if sys.stdin.isatty():
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        else:
            password = sys.stdin.readline().rstrip("\n")
    conn = _db()
    try:
        user = create_user(conn, email, password)
    except UserExists:
        raise typer.BadParameter(f"a user with email {email} exists") from None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"created user {user.id} {user.email}")


@site_app.command("add")
def site_add(
    domain: str,
    owner: Annotated[str, typer.Option("--owner", help="the owner's email")],
    timezone: Annotated[str, typer.Option("--timezone")] = "UTC",
) -> None:
    """Add a site; prints its id. In saas mode the owner's plan limits their sites."""
    from pagepulse.config import get_settings
    from pagepulse.control.plans import SiteLimitReached, create_site_within_limit
    from pagepulse.control.sites import SiteExists
    from pagepulse.control.users import get_user_by_email

    conn = _db()
    user = get_user_by_email(conn, owner)
    if user is None:
        raise typer.BadParameter(f"no user with email {owner}")
    try:
        site = create_site_within_limit(get_settings(), conn, domain, user.id, timezone)
    except SiteLimitReached as exc:
        typer.echo(f"{exc} (pagepulse plan set {user.email} PLAN)", err=True)
        raise typer.Exit(1) from None
    except SiteExists:
        raise typer.BadParameter(f"site {domain} exists") from None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(site.id)


@site_app.command("list")
def site_list() -> None:
    """List every site: id, domain, timezone, owner."""
    from pagepulse.control.sites import list_sites
    from pagepulse.control.users import get_user

    conn = _db()
    for site in list_sites(conn):
        owner = get_user(conn, site.owner_id)
        state = "" if site.enabled else "  (disabled)"
        typer.echo(
            f"{site.id}\t{site.domain}\t{site.timezone}\t{owner.email if owner else '?'}{state}"
        )


@app.command("import")
def import_events(
    file: Path,
    site: Annotated[int, typer.Option("--site", help="site id")],
) -> None:
    """Import events (Parquet or CSV in the public event schema, docs/lake.md)."""
    import time

    from pagepulse.config import get_settings
    from pagepulse.control.sites import get_site
    from pagepulse.lake.importer import import_file

    if get_site(_db(), site) is None:
        raise typer.BadParameter(f"no site with id {site}")
    started = time.perf_counter()
    try:
        result = import_file(get_settings().events_dir, site, file)
    except (ValueError, OSError) as exc:
        typer.echo(f"import failed, nothing imported: {exc}", err=True)
        raise typer.Exit(1) from None
    took = time.perf_counter() - started
    typer.echo(
        f"imported {result.rows:,} events into {result.partitions} partitions in {took:.1f} s"
    )


@app.command()
def compact(
    site: Annotated[int | None, typer.Option("--site", help="only this site id")] = None,
    date: Annotated[
        str | None, typer.Option("--date", help="only this UTC day, YYYY-MM-DD")
    ] = None,
) -> None:
    """Merge each partition's files into one sorted file (the server also does this)."""
    import datetime as dt
    import functools

    from pagepulse.config import get_settings
    from pagepulse.ingest.writer import still_logged
    from pagepulse.lake.compaction import CompactionBusy, compact_lake

    settings = get_settings()
    day = dt.date.fromisoformat(date) if date else None
    in_flight = functools.partial(still_logged, settings.wal_dir)
    try:
        result = compact_lake(settings.events_dir, site_id=site, day=day, in_flight=in_flight)
    except CompactionBusy:
        typer.echo("another compaction is running (the server's, probably); try later", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"compacted {result.partitions} partitions: {result.files_in} files, "
        f"{result.rows:,} events, {result.bytes_in:,} -> {result.bytes_out:,} bytes; "
        f"deleted {result.deleted} replaced files"
    )


@app.command()
def export(
    dest: Annotated[Path, typer.Argument(help="a new folder, or a file ending in .zip")],
    site: Annotated[int, typer.Option("--site", help="site id")],
    from_: Annotated[str | None, typer.Option("--from", help="first UTC day, YYYY-MM-DD")] = None,
    to: Annotated[str | None, typer.Option("--to", help="last UTC day, YYYY-MM-DD")] = None,
) -> None:
    """Export a site's events as Parquet files in the lake's layout, with a README."""
    import datetime as dt

    from pagepulse.config import get_settings
    from pagepulse.control.sites import get_site
    from pagepulse.lake.export import ExportExists, export_site

    if get_site(_db(), site) is None:
        raise typer.BadParameter(f"no site with id {site}")
    try:
        start = dt.date.fromisoformat(from_) if from_ else None
        end = dt.date.fromisoformat(to) if to else None
    except ValueError as exc:
        raise typer.BadParameter(f"dates are YYYY-MM-DD: {exc}") from None
    try:
        result = export_site(get_settings().events_dir, site, dest, start=start, end=end)
    except ExportExists:
        typer.echo(f"{dest} exists; choose a new folder or zip file", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"exported {result.days} days, {result.files} files ({result.bytes:,} bytes) to {dest}"
    )


@app.command()
def retention() -> None:
    """Delete the days older than each site's retention setting (the server also does
    this before each compaction)."""
    from pagepulse.config import get_settings
    from pagepulse.control.sites import retention_by_site
    from pagepulse.lake.compaction import CompactionBusy
    from pagepulse.lake.retention import enforce_retention

    try:
        deleted = enforce_retention(get_settings().events_dir, retention_by_site(_db()))
    except CompactionBusy:
        typer.echo("a compaction is running (the server's, probably); try later", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"deleted {deleted} days past their site's retention")


lake_app = typer.Typer(no_args_is_help=True, help="Check the event lake's files.")
app.add_typer(lake_app, name="lake")


@lake_app.command("check")
def lake_check(
    site: Annotated[int | None, typer.Option("--site", help="only this site id")] = None,
) -> None:
    """Read every Parquet file of the lake in full; move damaged ones to data/quarantine
    (kept, with a note of the error). Exits 1 when it found any."""
    from pagepulse.config import get_settings
    from pagepulse.lake.quarantine import check_lake, quarantine_dir, quarantined

    settings = get_settings()
    result = check_lake(settings.events_dir, site)
    typer.echo(f"checked {result.files} files ({result.bytes:,} bytes)")
    for item in result.moved:
        typer.echo(f"quarantined {item.file}: {item.reason}")
    kept = quarantined(settings.data_dir, site)
    typer.echo(f"{len(kept)} files in quarantine ({quarantine_dir(settings.data_dir)})")
    if result.moved:
        raise typer.Exit(1)


@app.command()
def demo() -> None:
    """Create the demo account and site with 30 days of traffic (once)."""
    from pagepulse.config import get_settings
    from pagepulse.demo.setup import ensure_demo

    settings = get_settings()
    info = ensure_demo(settings)
    verb = "created" if info.created else "already there"
    typer.echo(f"demo {verb}: site {info.domain} (id {info.site_id})")
    typer.echo(f"open {settings.base_url}/login and sign in as {info.email} / {info.password}")


def _moment(value: str | None):
    """``--now``: an ISO date-time (UTC when it has no offset); the real time if None."""
    import datetime as dt

    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"--now takes an ISO date-time such as 2026-06-01T09:30+02:00, not {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _report_kind(value: str | None):
    from pagepulse.reports.schedule import parse_kind

    try:
        return parse_kind(value) if value is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@reports_app.command("send")
def reports_send(
    site: Annotated[int | None, typer.Option("--site", help="only this site id")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="weekly or monthly")] = None,
    now: Annotated[str | None, typer.Option("--now", help="ISO date-time to act as now")] = None,
) -> None:
    """Send the email reports that are due and not sent yet (the server does this every
    minute); each goes out once, whoever sends it."""
    from pagepulse.config import get_settings
    from pagepulse.mail import MailNotConfigured
    from pagepulse.reports.sender import send_due_reports

    _db().close()  # migrate first
    try:
        outcomes = send_due_reports(
            get_settings(), now=_moment(now), site_id=site, kind=_report_kind(kind)
        )
    except MailNotConfigured as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    for outcome in outcomes:
        typer.echo(outcome.describe())
    counts = {s: sum(o.status == s for o in outcomes) for s in ("sent", "skipped", "failed")}
    typer.echo(", ".join(f"{n} {status}" for status, n in counts.items()))
    if counts["failed"]:
        raise typer.Exit(1)


@reports_app.command("preview")
def reports_preview(
    site: Annotated[int, typer.Option("--site", help="site id")],
    kind: Annotated[str, typer.Option("--kind", help="weekly or monthly")] = "weekly",
    now: Annotated[str | None, typer.Option("--now", help="ISO date-time to act as now")] = None,
    html: Annotated[bool, typer.Option("--html", help="print the HTML part")] = False,
) -> None:
    """Print the report the site's owner would get for the latest due period (nothing
    is sent or recorded)."""
    from pagepulse.config import get_settings
    from pagepulse.control.sites import get_site
    from pagepulse.control.users import get_user
    from pagepulse.reports.sender import preview

    conn = _db()
    found = get_site(conn, site)
    if found is None:
        raise typer.BadParameter(f"no site with id {site}")
    owner = get_user(conn, found.owner_id)
    assert owner is not None
    report_kind = _report_kind(kind)
    assert report_kind is not None
    message = preview(get_settings(), found, report_kind, owner.id, owner.email, _moment(now))
    typer.echo(f"Subject: {message['Subject']}")
    typer.echo(f"To: {message['To']}\n")
    typer.echo(message.get_body(("html",) if html else ("plain",)).get_content())


@bench_app.command("ingest")
def bench_ingest(
    seconds: Annotated[float, typer.Option(max=120)] = 10.0,
    connections: Annotated[int, typer.Option(max=512)] = 64,
    workers: Annotated[str, typer.Option(help="comma-separated worker counts")] = "1,2",
) -> None:
    """Ingestion throughput and latency over loopback, for 1 and 2 server workers."""
    from pagepulse.bench.ingest import run_ingest_bench

    counts = [int(w) for w in workers.split(",") if w.strip()]
    run_ingest_bench(seconds=seconds, connections=connections, worker_counts=counts)


@bench_app.command("load")
def bench_load(
    rate: Annotated[float, typer.Option(min=1, max=20_000, help="beacons per second")] = 5000,
    seconds: Annotated[float, typer.Option(min=1, max=600, help="measured, after warm-up")] = 60,
    dashboard_interval: Annotated[
        float, typer.Option(min=0, max=60, help="seconds between dashboard loads; 0: none")
    ] = 1.0,
    soak: Annotated[bool, typer.Option(help="run --soak-minutes, check memory growth")] = False,
    soak_minutes: Annotated[float, typer.Option(min=3, max=60)] = 10,
    processes: Annotated[int, typer.Option(min=1, max=8, help="load generators")] = 1,
    connections: Annotated[int, typer.Option(min=1, max=1024, help="in all")] = 128,
    seed_events: Annotated[int, typer.Option(min=0, max=5_000_000, help="history")] = 200_000,
) -> None:
    """Sustained ingestion against one server worker while a logged-in dashboard is
    refreshed; --soak watches the server's memory. Exits 1 when the bar is missed."""
    from pagepulse.bench.load import check_bounds, run_load

    duration = soak_minutes * 60 if soak else seconds
    try:
        check_bounds(rate, duration, processes, connections)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    report = run_load(
        rate,
        duration,
        dashboard_interval=dashboard_interval,
        soak=soak,
        processes=processes,
        connections=connections,
        seed_events=seed_events,
    )
    if not report.passed:
        raise typer.Exit(1)


@bench_app.command("dashboard")
def bench_dashboard(
    events: int = 10_000_000,
    days: int = 30,
) -> None:
    """Full dashboard for the biggest site of a generated lake: cold and hot."""
    from pagepulse.query.bench import bench_dashboard as run

    run(events=events, days=days)


@bench_app.command("compare")
def bench_compare(
    events: int = 10_000_000,
    days: Annotated[int, typer.Option(min=2)] = 30,
    repeats: Annotated[int, typer.Option(help="hot rounds per engine")] = 5,
    naive_repeats: Annotated[int | None, typer.Option(help="hot rounds of naive DuckDB")] = None,
    engines: Annotated[str, typer.Option(help="comma-separated")] = (
        "pagepulse,clickhouse,clickhouse-exact,naive"
    ),
    fresh: Annotated[bool, typer.Option(help="rebuild the lake in .bench/compare")] = False,
) -> None:
    """Dashboard of the biggest site: PagePulse vs ClickHouse (Plausible's design) vs
    naive DuckDB, cold and hot, and whether their numbers agree (needs `.[bench]`)."""
    from pagepulse.bench.dashboard import bench_compare as run

    chosen = tuple(name.strip() for name in engines.split(",") if name.strip())
    run(events, days, repeats=repeats, naive_repeats=naive_repeats, engines=chosen, fresh=fresh)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
