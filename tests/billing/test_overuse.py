"""An account over twice its pageview limit two months in a row is flagged for an admin,
by the server's periodic check and by ``pagepulse plan check``; its events keep being
accepted. Exactly twice the limit, or one month over, is not flagged."""

from __future__ import annotations

import datetime as dt
import time

from pagepulse.control import overuse, usage
from pagepulse.control.db import open_database
from pagepulse.control.sites import create_site
from pagepulse.control.users import create_user
from tests.billing.helpers import import_month
from tests.billing.servers import add_site, db_rows, events_dir, run_cli, send_events
from tests.support.server import Server
from tests.support.site import ensure_user

PASSWORD = "a-long-password"


def months_back(count: int) -> dt.date:
    return usage.add_months(usage.month_of(dt.datetime.now(dt.UTC)), -count)


def flags(server: Server, email: str) -> list[tuple]:
    return db_rows(
        server,
        "SELECT month, reason, cleared_at FROM account_flags "
        "JOIN users ON users.id = account_flags.user_id WHERE email = ?",
        email,
    )


def wait_for_flags(server: Server, email: str, timeout: float = 30.0) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while not (found := flags(server, email)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def test_the_server_flags_two_months_over_twice_the_limit(saas_server):
    heavy = ensure_user(saas_server.data_dir, "heavy@example.com", PASSWORD)
    site = add_site(saas_server, "heavy.example", heavy)
    borderline = ensure_user(saas_server.data_dir, "borderline@example.com", PASSWORD)
    border_site = add_site(saas_server, "borderline.example", borderline)
    # Free: 10,000 pageviews. Custom events are not part of the limit.
    lake = events_dir(saas_server)
    import_month(lake, site, months_back(2), pageviews=20_001)
    import_month(lake, site, months_back(1), pageviews=20_500, custom_events=3)
    import_month(lake, border_site, months_back(2), pageviews=20_000, custom_events=9_000)
    import_month(lake, border_site, months_back(1), pageviews=30_000)

    [(month, reason, cleared)] = wait_for_flags(saas_server, "heavy@example.com")
    assert month == usage.month_key(months_back(1)) and cleared is None
    assert f"{usage.month_key(months_back(2))}: 20,001 pageviews, over 2x" in reason
    assert "20,500 pageviews" in reason and "Free plan's 10,000" in reason

    # Not cut off: its events are still accepted and stored.
    send_events(saas_server, "heavy.example", pageviews=2, custom_events=1)
    assert len(saas_server.wait_for_events(site, 20_001 + 20_503 + 3)) == 40_507

    time.sleep(1.5)  # three more rounds of the check: nothing for the borderline account
    assert flags(saas_server, "borderline@example.com") == []
    assert len(flags(saas_server, "heavy@example.com")) == 1

    listing = run_cli(saas_server, "plan", "flags")
    assert listing.returncode == 0
    assert f"heavy@example.com\t{usage.month_key(months_back(1))}\tflagged" in listing.stdout
    assert "borderline@example.com" not in listing.stdout
    cleared = run_cli(saas_server, "plan", "flags", "--clear", "heavy@example.com")
    assert cleared.stdout.strip() == "cleared 1 flag(s) of heavy@example.com"
    assert "heavy@example.com" not in run_cli(saas_server, "plan", "flags").stdout
    # A cleared month stays cleared: the next rounds do not raise it again.
    time.sleep(1.5)
    [(_month, _reason, cleared_at)] = flags(saas_server, "heavy@example.com")
    assert cleared_at is not None


def test_plan_check_by_hand_and_a_plan_that_covers_the_usage(tmp_path):
    # A server that never checks on its own: the admin runs the check.
    server = Server(
        tmp_path / "data", env={"PAGEPULSE_MODE": "saas", "PAGEPULSE_USAGE_CHECK_SECONDS": "0"}
    )
    lake = server.data_dir / "events"
    over = ensure_user(server.data_dir, "over@example.com", PASSWORD)
    pro = ensure_user(server.data_dir, "pro-over@example.com", PASSWORD)
    over_site, pro_site = (
        add_site(server, "over.example", over),
        add_site(server, "pro.example", pro),
    )
    for back in (1, 2):
        import_month(lake, over_site, months_back(back), pageviews=25_000)
        import_month(lake, pro_site, months_back(back), pageviews=25_000)
    # pro-over has been on Pro (100,000) since long ago: 25,000 is well within it.
    db_rows(
        server,
        "INSERT INTO plan_changes (user_id, plan, source, changed_at) "
        "VALUES (?, 'pro', 'cli', '2020-01-01T00:00:00Z') RETURNING id",
        pro,
    )
    db_rows(server, "UPDATE users SET plan = 'pro' WHERE id = ? RETURNING id", pro)

    check = run_cli(server, "plan", "check")
    assert check.returncode == 0, check.stderr
    assert f"flagged over@example.com for {usage.month_key(months_back(1))}" in check.stdout
    assert "1 account(s) newly flagged" in check.stdout
    assert "pro-over" not in check.stdout
    again = run_cli(server, "plan", "check")
    assert "0 account(s) newly flagged" in again.stdout

    listing = run_cli(server, "plan", "list")
    lines = dict(line.split("\t", 1) for line in listing.stdout.splitlines()[1:])
    assert lines["over@example.com"] == "free\t1/1\t0/10000\tyes"
    assert lines["pro-over@example.com"] == "pro\t1/10\t0/100000\t"

    selfhosted = {**server.env, "PAGEPULSE_MODE": "selfhosted"}
    server.env = selfhosted
    assert (
        run_cli(server, "plan", "check").stdout.strip()
        == "selfhosted mode: no limits, nothing to check"
    )


def test_this_month_counts_as_soon_as_it_is_over_and_each_month_has_its_plan(settings):
    settings = settings.model_copy(update={"mode": "saas"})
    conn = open_database(settings.db_path)
    user = create_user(conn, "mid@example.com", PASSWORD)
    site = create_site(conn, "mid.example", user.id)
    feb, mar = dt.date(2025, 2, 1), dt.date(2025, 3, 1)
    import_month(settings.events_dir, site.id, feb, pageviews=20_001)
    import_month(settings.events_dir, site.id, mar, pageviews=20_001)
    mid_march = dt.datetime(2025, 3, 15, tzinfo=dt.UTC)

    [flag] = overuse.check_overuse(settings, conn, mid_march)
    assert (flag.email, flag.month) == ("mid@example.com", "2025-03")
    assert overuse.check_overuse(settings, conn, mid_march) == []  # once per month

    # On Pro from mid-February: February is billed (and judged) at Pro, so no flag.
    other = create_user(conn, "upgraded@example.com", PASSWORD)
    other_site = create_site(conn, "upgraded.example", other.id)
    import_month(settings.events_dir, other_site.id, feb, pageviews=20_001)
    import_month(settings.events_dir, other_site.id, mar, pageviews=20_001)
    conn.execute(
        "INSERT INTO plan_changes (user_id, plan, source, changed_at) "
        "VALUES (?, 'pro', 'webhook', '2025-02-14T00:00:00Z')",
        (other.id,),
    )
    assert overuse.check_overuse(settings, conn, mid_march) == []
    assert [f.email for f in overuse.open_flags(conn)] == ["mid@example.com"]
    assert (
        overuse.check_overuse(settings.model_copy(update={"mode": "selfhosted"}), conn, mid_march)
        == []
    )
    conn.close()
