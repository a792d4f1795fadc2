"""``pagepulse plan``: the admin's commands for plans (saas mode), usage and flags.

    pagepulse plan set EMAIL PLAN     # move an account to a plan (recorded as 'cli')
    pagepulse plan list               # every account: plan, sites, this month's pageviews
    pagepulse plan check              # flag accounts over 2x their limit two months running
    pagepulse plan flags [--clear EMAIL]

Imports are inside the commands so ``pagepulse --help`` stays instant.
"""

from __future__ import annotations

from typing import Annotated

import typer

plan_app = typer.Typer(no_args_is_help=True, help="Plans and usage (saas mode): set, list, flags.")

SELFHOSTED_NOTE = "note: PAGEPULSE_MODE is selfhosted, so plans are not enforced"


def _open():
    from pagepulse.config import get_settings
    from pagepulse.control.db import open_database

    settings = get_settings()
    return settings, open_database(settings.db_path)


def _user(conn, email: str):
    from pagepulse.control.users import get_user_by_email

    user = get_user_by_email(conn, email)
    if user is None:
        raise typer.BadParameter(f"no user with email {email}")
    return user


@plan_app.command("set")
def plan_set(email: str, plan: str) -> None:
    """Move the account EMAIL to PLAN (one of the plans in the plans file)."""
    from pagepulse.control import plans
    from pagepulse.control.db import transaction

    settings, conn = _open()
    user = _user(conn, email)
    before = plans.stored_plan(settings, conn, user.id)
    try:
        with transaction(conn):
            after = plans.set_plan(settings, conn, user.id, plan, "cli")
    except plans.UnknownPlan as exc:
        raise typer.BadParameter(str(exc)) from None
    if after.name == before.name:
        typer.echo(f"{user.email} is already on {after.label}")
    else:
        typer.echo(f"{user.email} is now on {after.label} (was {before.label})")
    if not plans.limits_enforced(settings):
        typer.echo(SELFHOSTED_NOTE, err=True)


@plan_app.command("list")
def plan_list() -> None:
    """Every account: plan, sites (of the limit), this month's pageviews (of the limit)."""
    import datetime as dt

    from pagepulse.control import overuse, plans, usage

    settings, conn = _open()
    month = usage.month_of(dt.datetime.now(dt.UTC))
    rows = conn.execute("SELECT id, email FROM users ORDER BY email").fetchall()
    flagged = {flag.user_id for flag in overuse.open_flags(conn)}
    typer.echo(f"email\tplan\tsites\tpageviews {usage.month_key(month)}\tflagged")
    for row in rows:
        plan = plans.stored_plan(settings, conn, row["id"])
        [current] = usage.account_usage(settings, conn, row["id"], [month])
        sites = f"{plans.site_count(conn, row['id'])}/{_limit(plan.site_limit)}"
        pageviews = f"{current.pageviews}/{_limit(plan.pageview_limit)}"
        mark = "yes" if row["id"] in flagged else ""
        typer.echo(f"{row['email']}\t{plan.name}\t{sites}\t{pageviews}\t{mark}")
    if not plans.limits_enforced(settings):
        typer.echo(SELFHOSTED_NOTE, err=True)


def _limit(value: int | None) -> str:
    return "unlimited" if value is None else str(value)


@plan_app.command("check")
def plan_check() -> None:
    """Flag accounts over twice their pageview limit two months in a row, now."""
    import datetime as dt

    from pagepulse.control import overuse, plans

    settings, conn = _open()
    if not plans.limits_enforced(settings):
        typer.echo("selfhosted mode: no limits, nothing to check")
        return
    added = overuse.check_overuse(settings, conn, dt.datetime.now(dt.UTC))
    for flag in added:
        typer.echo(f"flagged {flag.email} for {flag.month}: {flag.reason}")
    typer.echo(f"{len(added)} account(s) newly flagged; see `pagepulse plan flags`")


@plan_app.command("flags")
def plan_flags(
    clear: Annotated[
        str | None, typer.Option("--clear", help="mark this account's flags as dealt with")
    ] = None,
) -> None:
    """Accounts flagged for usage far over their plan, not yet cleared."""
    from pagepulse.control import overuse

    _settings, conn = _open()
    if clear is not None:
        user = _user(conn, clear)
        typer.echo(f"cleared {overuse.clear_flags(conn, user.id)} flag(s) of {user.email}")
        return
    flags = overuse.open_flags(conn)
    if not flags:
        typer.echo("no flagged accounts")
    for flag in flags:
        typer.echo(f"{flag.email}\t{flag.month}\tflagged {flag.flagged_at}\t{flag.reason}")
