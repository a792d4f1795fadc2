"""Plans and feature gates: which plan an account is on, what it may do, and changing it.

The plans are data (``plans.toml`` next to this file, or ``PAGEPULSE_PLANS_FILE``); an
account records only its plan's name (``users.plan``). Routes ask three questions:

    feature_enabled(settings, conn, user_id, "api_keys")   # may this account use it?
    site_limit_reached(settings, conn, user_id)            # may it add another site?
    plan_of(settings, conn, user_id)                        # its limits and prices

In selfhosted mode (the default) every answer is "yes, unlimited": ``plan_of`` returns
``SELFHOSTED``, a plan with every feature and no limits, so nothing else needs to branch
on the mode. Pages that a plan does not include show ``templates/_upgrade_hint.html``
instead of the feature's button. For shared sites the owner's plan applies: pass the
site's ``owner_id``.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

import jinja2

from pagepulse.config import Settings
from pagepulse.control.db import transaction
from pagepulse.control.sites import Site, create_site

Feature = Literal["email_reports", "api_keys", "team_members", "custom_domains"]
FEATURES: tuple[Feature, ...] = get_args(Feature)
FEATURE_LABELS: dict[str, str] = {
    "email_reports": "Email reports",
    "api_keys": "API access",
    "team_members": "Team members",
    "custom_domains": "Custom domains",
}
OVERAGE_UNIT = 10_000  # overage is charged per started block of this many pageviews
PLAN_SOURCES = ("cli", "webhook", "signup")
_TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"  # plan_changes.changed_at: strings compare in order


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    label: str
    price_cents: int
    site_limit: int | None  # None: unlimited
    pageview_limit: int | None  # per calendar month (UTC); None: unlimited
    overage_cents: int  # per started OVERAGE_UNIT pageviews above the limit
    features: frozenset[str]

    def has(self, feature: Feature) -> bool:
        return feature in self.features

    def extra_pageviews(self, pageviews: int) -> int:
        if self.pageview_limit is None:
            return 0
        return max(0, pageviews - self.pageview_limit)

    def overage_cents_for(self, pageviews: int) -> int:
        """What a month of ``pageviews`` costs on top of the price: ceil(extra / 10K) units."""
        return math.ceil(self.extra_pageviews(pageviews) / OVERAGE_UNIT) * self.overage_cents


# Selfhosted mode's only plan: every feature, no limits, nothing to pay.
SELFHOSTED = Plan(
    name="selfhosted",
    label="Self-hosted",
    price_cents=0,
    site_limit=None,
    pageview_limit=None,
    overage_cents=0,
    features=frozenset(FEATURES),
)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every plan, cheapest first, the plan new accounts start on, and the currency."""

    plans: dict[str, Plan]
    default: str
    currency: str

    def get(self, name: str) -> Plan | None:
        return self.plans.get(name)

    def cheapest_with(self, feature: Feature) -> Plan | None:
        return next((p for p in self.plans.values() if p.has(feature)), None)


class PlansFileError(ValueError):
    """The plans file is malformed; the message names the plan and the field."""


class UnknownPlan(ValueError):
    pass


def limits_enforced(settings: Settings) -> bool:
    return settings.mode == "saas"


def catalogue(settings: Settings) -> Catalogue:
    if settings.plans_file is not None:
        return _load(str(settings.plans_file))
    return _load(None)


@cache
def _load(path: str | None) -> Catalogue:
    if path is None:
        text = resources.files("pagepulse.control").joinpath("plans.toml").read_text()
    else:
        text = Path(path).read_text()
    return parse_plans(tomllib.loads(text))


def parse_plans(data: dict[str, Any]) -> Catalogue:
    """Validate the TOML document into a catalogue (errors name the field)."""
    raw_plans = data.get("plans")
    if not isinstance(raw_plans, dict) or not raw_plans:
        raise PlansFileError("the plans file needs at least one [plans.<name>] table")
    plans = [_parse_plan(name, fields) for name, fields in raw_plans.items()]
    plans.sort(key=lambda p: p.price_cents)
    default = data.get("default")
    if default not in raw_plans:
        raise PlansFileError(f"default = {default!r} is not one of the plans")
    currency = data.get("currency", "USD")
    if not isinstance(currency, str) or not currency:
        raise PlansFileError("currency must be a code such as USD")
    return Catalogue(plans={p.name: p for p in plans}, default=default, currency=currency)


def _parse_plan(name: str, fields: Any) -> Plan:
    if not isinstance(fields, dict):
        raise PlansFileError(f"plans.{name} must be a table")

    def count(key: str, *, required: bool) -> int | None:
        value = fields.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise PlansFileError(f"plans.{name}.{key} must be a whole number >= 0")
        return value

    features = fields.get("features", [])
    if not isinstance(features, list) or any(f not in FEATURES for f in features):
        raise PlansFileError(f"plans.{name}.features must list only {', '.join(FEATURES)}")
    pageviews = count("pageviews", required=True)
    assert pageviews is not None
    return Plan(
        name=name,
        label=str(fields.get("label", name.title())),
        price_cents=count("price_cents", required=True) or 0,
        site_limit=count("sites", required=False),
        pageview_limit=pageviews,
        overage_cents=count("overage_cents", required=True) or 0,
        features=frozenset(features),
    )


def stored_plan(settings: Settings, conn: sqlite3.Connection, user_id: int) -> Plan:
    """The plan the account is on in SaaS terms, whatever the mode (for statements).

    A plan name no longer in the plans file falls back to the default plan.
    """
    plans = catalogue(settings)
    row = conn.execute("SELECT plan FROM users WHERE id = ?", (user_id,)).fetchone()
    name = row["plan"] if row else plans.default
    return plans.get(name) or plans.plans[plans.default]


def plan_of(settings: Settings, conn: sqlite3.Connection, user_id: int) -> Plan:
    """The limits that apply to the account: ``SELFHOSTED`` unless the mode is saas."""
    if not limits_enforced(settings):
        return SELFHOSTED
    return stored_plan(settings, conn, user_id)


def feature_enabled(
    settings: Settings, conn: sqlite3.Connection, user_id: int, feature: Feature
) -> bool:
    return plan_of(settings, conn, user_id).has(feature)


def site_count(conn: sqlite3.Connection, user_id: int) -> int:
    row = conn.execute("SELECT count(*) FROM sites WHERE owner_id = ?", (user_id,)).fetchone()
    return int(row[0])


def site_limit_reached(settings: Settings, conn: sqlite3.Connection, user_id: int) -> bool:
    """True when the account owns as many sites as its plan allows (never in selfhosted)."""
    limit = plan_of(settings, conn, user_id).site_limit
    return limit is not None and site_count(conn, user_id) >= limit


def site_limit_message(settings: Settings, conn: sqlite3.Connection, user_id: int) -> str:
    plan = plan_of(settings, conn, user_id)
    sites = "site" if plan.site_limit == 1 else "sites"
    return (
        f"Your {plan.label} plan includes {plan.site_limit} {sites}, and you have "
        f"{site_count(conn, user_id)}. Upgrade your plan to add another site."
    )


class SiteLimitReached(Exception):
    """The account owns as many sites as its plan allows; the message says so."""


def create_site_within_limit(
    settings: Settings, conn: sqlite3.Connection, domain: str, owner_id: int, timezone: str = "UTC"
) -> Site:
    """``sites.create_site`` unless the plan's site limit is reached (checked in the same
    transaction, so two requests at once cannot both pass it)."""
    with transaction(conn):
        if site_limit_reached(settings, conn, owner_id):
            raise SiteLimitReached(site_limit_message(settings, conn, owner_id))
        return create_site(conn, domain, owner_id, timezone)


def set_plan(
    settings: Settings, conn: sqlite3.Connection, user_id: int, plan_name: str, source: str
) -> Plan:
    """Move the account to ``plan_name`` and record the change (``source``: cli, webhook).

    Runs inside the caller's transaction; a change to the plan it is on records nothing.
    """
    plan = find_plan(settings, plan_name)
    if source not in PLAN_SOURCES:
        raise ValueError(f"unknown source {source!r}")
    row = conn.execute("SELECT plan FROM users WHERE id = ?", (user_id,)).fetchone()
    if row is None:
        raise LookupError(f"no account {user_id}")
    if row["plan"] != plan.name:
        conn.execute("UPDATE users SET plan = ? WHERE id = ?", (plan.name, user_id))
        conn.execute(
            "INSERT INTO plan_changes (user_id, plan, source) VALUES (?, ?, ?)",
            (user_id, plan.name, source),
        )
    return plan


def find_plan(settings: Settings, name: str) -> Plan:
    plan = catalogue(settings).get(name.strip().lower()) if isinstance(name, str) else None
    if plan is None:
        names = ", ".join(catalogue(settings).plans)
        raise UnknownPlan(f"unknown plan {str(name)[:40]!r}; choose one of {names}")
    return plan


def plan_at(
    settings: Settings, conn: sqlite3.Connection, user_id: int, moment: dt.datetime
) -> Plan:
    """The plan the account was on just before ``moment`` (SaaS terms, whatever the mode):
    the last recorded change before it; before any change, the default plan."""
    plans = catalogue(settings)
    before = moment.astimezone(dt.UTC).strftime(_TIMESTAMP)
    row = conn.execute(
        "SELECT plan FROM plan_changes WHERE user_id = ? AND changed_at < ? "
        "ORDER BY changed_at DESC, id DESC LIMIT 1",
        (user_id, before),
    ).fetchone()
    if row is not None:
        return plans.get(row["plan"]) or plans.plans[plans.default]
    changed = conn.execute("SELECT 1 FROM plan_changes WHERE user_id = ?", (user_id,)).fetchone()
    if changed:
        return plans.plans[plans.default]
    return stored_plan(settings, conn, user_id)  # never changed: on it all along


def plan_history(conn: sqlite3.Connection, user_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT plan, source, changed_at FROM plan_changes WHERE user_id = ? "
        "ORDER BY changed_at, id",
        (user_id,),
    ).fetchall()


def format_money(cents: int, currency: str) -> str:
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency)
    amount = f"{cents // 100:,}.{cents % 100:02d}"
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"


def register_template_globals(env: jinja2.Environment, settings: Settings) -> None:
    """What ``_upgrade_hint.html`` and ``base.html`` need: the mode and the plan offering
    a feature (the app calls this once at start-up)."""
    env.globals["saas_mode"] = limits_enforced(settings)
    env.globals["feature_label"] = lambda feature: FEATURE_LABELS.get(feature, feature)
    env.globals["upgrade_plan_for"] = lambda feature: catalogue(settings).cheapest_with(feature)
    env.globals["format_money"] = lambda cents: format_money(cents, catalogue(settings).currency)
