"""Plans as data: the shipped plans.toml holds the issue's numbers, a bad file is refused
naming the field, and the gates answer from the account's plan in saas mode only."""

from __future__ import annotations

import datetime as dt
import tomllib
from importlib import resources

import pytest

from pagepulse.config import Settings
from pagepulse.control import plans
from pagepulse.control.db import transaction
from pagepulse.control.sites import create_site
from pagepulse.control.users import create_user

SHIPPED = tomllib.loads(resources.files("pagepulse.control").joinpath("plans.toml").read_text())


def saas(settings: Settings, **changes) -> Settings:
    return settings.model_copy(update={"mode": "saas", **changes})


def test_the_shipped_plans_are_the_ones_sold():
    catalogue = plans.parse_plans(SHIPPED)
    assert catalogue.default == "free" and catalogue.currency == "USD"
    assert list(catalogue.plans) == ["free", "pro", "business"]  # cheapest first
    free, pro, business = catalogue.plans.values()
    assert (free.price_cents, free.site_limit, free.pageview_limit) == (0, 1, 10_000)
    assert (pro.price_cents, pro.site_limit, pro.pageview_limit) == (900, 10, 100_000)
    assert (business.price_cents, business.site_limit, business.pageview_limit) == (
        2900, None, 1_000_000,
    )  # fmt: skip
    assert free.features == frozenset()
    assert pro.features == {"email_reports"}
    assert business.features == {"email_reports", "api_keys", "team_members", "custom_domains"}
    assert catalogue.cheapest_with("email_reports") is pro
    assert catalogue.cheapest_with("custom_domains") is business


def one_plan(**fields) -> dict:
    """A plans document with the single plan "x": valid, but for ``fields``."""
    plan = {"price_cents": 0, "pageviews": 1, "overage_cents": 0, **fields}
    return {"default": "x", "plans": {"x": {k: v for k, v in plan.items() if v is not None}}}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({**SHIPPED, "default": "gold"}, "default = 'gold' is not one of the plans"),
        ({"default": "free", "plans": {}}, "at least one [plans.<name>]"),
        (one_plan(pageviews=None), "plans.x.pageviews must be a whole number"),
        (one_plan(price_cents=-1), "plans.x.price_cents must be a whole number"),
        (one_plan(sites=1.5), "plans.x.sites must be a whole number"),
        (one_plan(overage_cents=True), "plans.x.overage_cents must be a whole number"),
        (one_plan(features=["teleport"]), "plans.x.features must list only"),
        ({**one_plan(), "currency": ""}, "currency must be a code"),
    ],
)
def test_a_bad_plans_file_is_refused_naming_the_field(document, message):
    with pytest.raises(plans.PlansFileError) as error:
        plans.parse_plans(document)
    assert message in str(error.value)


def test_overage_is_charged_per_started_10k_above_the_limit():
    pro = plans.parse_plans(SHIPPED).plans["pro"]
    assert pro.overage_cents_for(99_999) == 0
    assert pro.overage_cents_for(100_000) == 0
    assert pro.overage_cents_for(100_001) == 100
    assert pro.overage_cents_for(110_000) == 100
    assert pro.overage_cents_for(110_001) == 200
    assert pro.overage_cents_for(250_000) == 1500
    assert plans.SELFHOSTED.overage_cents_for(10**12) == 0


def test_selfhosted_mode_has_every_feature_and_no_limits(settings, conn):
    user = create_user(conn, "ann@example.com", "a-long-password")
    for n in range(3):
        create_site(conn, f"site{n}.example", user.id)
    assert plans.plan_of(settings, conn, user.id) is plans.SELFHOSTED
    assert not plans.site_limit_reached(settings, conn, user.id)
    for feature in plans.FEATURES:
        assert plans.feature_enabled(settings, conn, user.id, feature)


def test_saas_mode_answers_from_the_accounts_plan(settings, conn):
    settings = saas(settings)
    user = create_user(conn, "ann@example.com", "a-long-password")
    assert plans.plan_of(settings, conn, user.id).name == "free"  # new accounts
    assert not plans.site_limit_reached(settings, conn, user.id)
    create_site(conn, "one.example", user.id)
    assert plans.site_limit_reached(settings, conn, user.id)
    with pytest.raises(plans.SiteLimitReached, match="Free plan includes 1 site, and you have 1"):
        plans.create_site_within_limit(settings, conn, "two.example", user.id)
    assert not any(plans.feature_enabled(settings, conn, user.id, f) for f in plans.FEATURES)

    with transaction(conn):
        plans.set_plan(settings, conn, user.id, "Pro", "cli")
    assert plans.feature_enabled(settings, conn, user.id, "email_reports")
    assert not plans.feature_enabled(settings, conn, user.id, "api_keys")
    assert plans.create_site_within_limit(settings, conn, "two.example", user.id).id
    with transaction(conn):
        plans.set_plan(settings, conn, user.id, "business", "webhook")
    assert all(plans.feature_enabled(settings, conn, user.id, f) for f in plans.FEATURES)
    assert [(r["plan"], r["source"]) for r in plans.plan_history(conn, user.id)] == [
        ("pro", "cli"), ("business", "webhook"),
    ]  # fmt: skip
    with pytest.raises(plans.UnknownPlan, match="choose one of free, pro, business"):
        plans.set_plan(settings, conn, user.id, "gold", "cli")


def test_the_plan_in_force_at_a_moment_follows_the_recorded_changes(settings, conn):
    settings = saas(settings)
    user = create_user(conn, "ann@example.com", "a-long-password")
    march = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    assert plans.plan_at(settings, conn, user.id, march).name == "free"
    conn.executemany(
        "INSERT INTO plan_changes (user_id, plan, source, changed_at) VALUES (?, ?, 'cli', ?)",
        [(user.id, "pro", "2025-02-10T12:00:00Z"), (user.id, "business", "2025-04-02T00:00:00Z")],
    )
    conn.execute("UPDATE users SET plan = 'business' WHERE id = ?", (user.id,))
    assert (
        plans.plan_at(settings, conn, user.id, dt.datetime(2025, 2, 1, tzinfo=dt.UTC)).name
        == "free"
    )
    assert plans.plan_at(settings, conn, user.id, march).name == "pro"
    assert plans.plan_at(settings, conn, user.id, dt.datetime(2025, 5, 1, tzinfo=dt.UTC)).name == (
        "business"
    )


def test_a_plans_file_of_your_own(settings, conn, tmp_path):
    path = tmp_path / "plans.toml"
    path.write_text(
        'default = "starter"\ncurrency = "EUR"\n'
        "[plans.starter]\nprice_cents = 500\nsites = 3\npageviews = 5000\noverage_cents = 20\n"
        'features = ["api_keys"]\n'
    )
    settings = saas(settings, plans_file=path)
    user = create_user(conn, "ann@example.com", "a-long-password")
    plan = plans.plan_of(settings, conn, user.id)
    assert (plan.name, plan.site_limit, plan.pageview_limit) == ("starter", 3, 5000)
    assert plans.feature_enabled(settings, conn, user.id, "api_keys")
    assert plans.format_money(1250, "EUR") == "€12.50"
    assert plans.format_money(123456, "CHF") == "1,234.56 CHF"
