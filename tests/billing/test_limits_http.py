"""Limits and feature gates over HTTP on real servers: in saas mode the site limit and the
API-access gate hold (an upgrade hint instead of the form, 402 on the POST, 402 for an
existing key at the Stats API) and lift when the admin changes the plan; in selfhosted
mode there are no limits and no plan UI at all."""

from __future__ import annotations

import httpx

from tests.billing.servers import add_site, csrf, db_rows, page, run_cli, text

QUERY = {"metrics": ["pageviews"], "date_range": "7d"}


def add_site_by_form(client: httpx.Client, domain: str) -> httpx.Response:
    return client.post(
        "/sites/new", data={"domain": domain, "timezone": "UTC", "csrf_token": csrf(client)}
    )


def test_the_free_plan_allows_one_site_then_shows_the_hint(saas_server, account):
    user_id, client = account(saas_server, "limit@example.com")
    first = add_site_by_form(client, "first-limit.example")
    assert first.status_code == 200 and first.url.path.endswith("/snippet")

    new_page = client.get("/sites/new")
    assert new_page.status_code == 200
    assert page(new_page).css_first('form[action="/sites/new"]') is None  # no dead button
    hint = text(new_page, ".upgrade-hint[data-limit=sites]")
    assert "Your Free plan includes 1 site, and you have 1" in hint
    assert page(new_page).css_first('.upgrade-hint a[href="/account/usage"]') is not None

    refused = add_site_by_form(client, "second-limit.example")
    assert refused.status_code == 402
    assert "Upgrade your plan to add another site" in text(refused, ".upgrade-hint")
    assert db_rows(saas_server, "SELECT domain FROM sites WHERE owner_id = ?", user_id) == [
        ("first-limit.example",)
    ]

    # The admin's CLI is held to the same limit, with a clear message...
    cli = run_cli(saas_server, "site", "add", "cli-limit.example", "--owner", "limit@example.com")
    assert cli.returncode == 1
    assert "Free plan includes 1 site" in cli.stderr and "pagepulse plan set" in cli.stderr
    # ...until the plan changes.
    changed = run_cli(saas_server, "plan", "set", "limit@example.com", "pro")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == "limit@example.com is now on Pro (was Free)"
    assert add_site_by_form(client, "second-limit.example").status_code == 200
    cli = run_cli(saas_server, "site", "add", "cli-limit.example", "--owner", "limit@example.com")
    assert cli.returncode == 0 and int(cli.stdout)
    assert len(db_rows(saas_server, "SELECT 1 FROM sites WHERE owner_id = ?", user_id)) == 3


def test_api_keys_need_a_plan_with_api_access(saas_server, account):
    user_id, client = account(saas_server, "api@example.com")
    add_site(saas_server, "api-gate.example", user_id)

    keys_page = client.get("/account/api-keys")
    assert page(keys_page).css_first("form.create-api-key") is None
    hint = text(keys_page, ".upgrade-hint[data-feature=api_keys]")
    assert "API access comes with the Business plan ($29.00/month)" in hint
    assert page(keys_page).css_first('.upgrade-hint a[href="/account/usage"]') is not None
    refused = client.post("/account/api-keys", data={"name": "script", "csrf_token": csrf(client)})
    assert refused.status_code == 402
    assert db_rows(saas_server, "SELECT 1 FROM api_keys WHERE user_id = ?", user_id) == []

    assert run_cli(saas_server, "plan", "set", "api@example.com", "business").returncode == 0
    created = client.post("/account/api-keys", data={"name": "script", "csrf_token": csrf(client)})
    assert created.status_code == 200
    key = text(created, "code.api-key")
    api = httpx.Client(base_url=saas_server.url, headers={"Authorization": f"Bearer {key}"})
    body = {**QUERY, "site_id": "api-gate.example"}
    assert api.post("/api/v2/query", json=body).status_code == 200

    # Downgraded: the key is kept but refused with a clear 402, and works again after.
    assert run_cli(saas_server, "plan", "set", "api@example.com", "pro").returncode == 0
    refused = api.post("/api/v2/query", json=body)
    assert refused.status_code == 402
    assert refused.json()["error"].startswith("API access is not part of this account's plan")
    assert db_rows(saas_server, "SELECT revoked_at FROM api_keys WHERE user_id = ?", user_id) == [
        (None,)
    ]
    assert run_cli(saas_server, "plan", "set", "api@example.com", "business").returncode == 0
    assert api.post("/api/v2/query", json=body).status_code == 200
    api.close()


def test_saas_pages_show_the_plan_and_the_usage_link(saas_server, account):
    _user_id, client = account(saas_server, "nav@example.com")
    sites = client.get("/sites")
    assert page(sites).css_first('nav.main-nav a[href="/account/usage"]') is not None
    usage = client.get("/account/usage")
    assert text(usage, ".current-plan .plan-name") == "Free"
    assert [r.attributes["data-plan"] for r in page(usage).css(".plan-table tbody tr")] == [
        "free", "pro", "business",
    ]  # fmt: skip
    assert "contact" in text(usage, ".upgrade-contact")


def test_selfhosted_mode_has_no_limits_and_no_plan_ui(selfhosted_server, account):
    user_id, client = account(selfhosted_server, "self@example.com")
    for n in range(3):
        assert add_site_by_form(client, f"self{n}.example").status_code == 200
    assert page(client.get("/sites/new")).css_first('form[action="/sites/new"]') is not None
    cli = run_cli(
        selfhosted_server, "site", "add", "self-cli.example", "--owner", "self@example.com"
    )
    assert cli.returncode == 0

    keys_page = client.get("/account/api-keys")
    assert page(keys_page).css_first("form.create-api-key") is not None
    assert page(keys_page).css_first(".upgrade-hint") is None
    created = client.post("/account/api-keys", data={"name": "s", "csrf_token": csrf(client)})
    key = text(created, "code.api-key")
    answer = httpx.post(
        f"{selfhosted_server.url}/api/v2/query",
        json={**QUERY, "site_id": "self0.example"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 200

    sites = client.get("/sites")
    assert page(sites).css_first('a[href="/account/usage"]') is None
    usage = client.get("/account/usage")
    assert usage.status_code == 200
    assert page(usage).css_first(".usage-table") is not None
    plan_ui = (".current-plan", ".plans", ".usage-limit", ".upgrade-hint", "a[href*=statement]")
    for selector in plan_ui:
        assert page(usage).css_first(selector) is None, selector
    assert client.get("/account/statement").status_code == 404
    assert len(db_rows(selfhosted_server, "SELECT 1 FROM sites WHERE owner_id = ?", user_id)) == 4
