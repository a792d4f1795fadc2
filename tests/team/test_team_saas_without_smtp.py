"""Team members on a saas server without SMTP: the plan gate (the site owner's plan
must include ``team_members``) and the invitation link shown to the inviter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pagepulse.config import Settings
from pagepulse.control import plans
from tests.support.server import Server
from tests.team.helpers import (
    NO_SUCH_SITE,
    database,
    html,
    logged_in,
    new_site,
    new_user,
    start_server,
    submit,
)


@pytest.fixture(scope="module")
def saas_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("saas") / "data", {"PAGEPULSE_MODE": "saas"})
    try:
        yield running
    finally:
        running.stop()


def set_plan(data_dir: Path, user_id: int, plan: str) -> None:
    settings = Settings(data_dir=data_dir, mode="saas", secret_key="unused")
    with database(data_dir) as conn:
        plans.set_plan(settings, conn, user_id, plan, "cli")


def test_without_smtp_the_inviter_gets_the_link_to_pass_on(saas_server: Server) -> None:
    owner_id = new_user(saas_server.data_dir, "linkowner@team.test")
    set_plan(saas_server.data_dir, owner_id, "business")
    site_id = new_site(saas_server.data_dir, "nomail.example", owner_id)
    owner = logged_in(saas_server, "linkowner@team.test")
    members_url = f"/sites/{site_id}/members"
    form = html(owner.get(members_url)).css_first("form.invite-member button")
    assert form.text() == "Create invitation link"

    response = submit(owner, members_url, "form.invite-member", {"email": "copy@team.test"})
    assert response.status_code == 200
    panel = html(response).css_first(".invitation-link")
    assert "PAGEPULSE_SMTP_URL" in panel.text() and "copy@team.test" in panel.text()
    url = panel.css_first("pre.invitation-url").text().strip()
    assert url.startswith(f"{saas_server.url}/invitations/")

    new_user(saas_server.data_dir, "copy@team.test")
    invitee = logged_in(saas_server, "copy@team.test")
    joined = submit(invitee, urlsplit(url).path, "form.accept-invitation", {})
    assert joined.url.path == f"/sites/{site_id}"
    assert "You joined nomail.example as viewer." in joined.text


def test_team_members_need_the_owners_plan(saas_server: Server) -> None:
    data_dir = saas_server.data_dir
    owner_id = new_user(data_dir, "gated@team.test")
    set_plan(data_dir, owner_id, "business")
    site_id = new_site(data_dir, "gated.example", owner_id)
    owner = logged_in(saas_server, "gated@team.test")
    members_url = f"/sites/{site_id}/members"
    # On Business: a viewer joins, and another invitation is pending.
    viewer_id = new_user(data_dir, "gated-viewer@team.test")
    with database(data_dir) as conn:
        conn.execute(
            "INSERT INTO site_members (site_id, user_id, role) VALUES (?, ?, 'viewer')",
            (site_id, viewer_id),
        )
    viewer = logged_in(saas_server, "gated-viewer@team.test")
    assert viewer.get(f"/sites/{site_id}").status_code == 200
    invited = submit(owner, members_url, "form.invite-member", {"email": "pending@team.test"})
    link = urlsplit(html(invited).css_first("pre.invitation-url").text().strip()).path

    # Down to Free: no invitations, members suspended (404, not listed), link refused.
    set_plan(data_dir, owner_id, "free")
    page = html(owner.get(members_url))
    assert page.css_first('.upgrade-hint[data-feature="team_members"]') is not None
    assert page.css_first("form.invite-member") is None
    token = page.css_first("input[name=csrf_token]").attributes["value"]
    refused = owner.post(
        f"{members_url}/invite", data={"csrf_token": token, "email": "more@team.test"}
    )
    assert refused.status_code == 402
    suspended = viewer.get(f"/sites/{site_id}")
    assert suspended.status_code == 404 and NO_SUCH_SITE in suspended.text
    assert "gated.example" not in viewer.get("/sites").text
    new_user(data_dir, "pending@team.test")
    invitee = logged_in(saas_server, "pending@team.test")
    gate = invitee.get(link)
    assert gate.status_code == 402 and "not part of the site owner" in gate.text
    assert html(gate).css_first("form.accept-invitation") is None
    with database(data_dir) as conn:
        emails = [
            r[0]
            for r in conn.execute("SELECT email FROM invitations WHERE site_id = ?", (site_id,))
        ]
        assert emails == ["pending@team.test"]  # the refused invite stored nothing

    # Back on Business: the viewer's access returns, and the pending link still works.
    set_plan(data_dir, owner_id, "business")
    assert viewer.get(f"/sites/{site_id}").status_code == 200
    joined = submit(invitee, link, "form.accept-invitation", {})
    assert joined.url.path == f"/sites/{site_id}"
