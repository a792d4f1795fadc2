"""Invitations, roles, removal and transfer over HTTP on a real server, with the
invitation email delivered to a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import hashlib
import itertools
import time
from urllib.parse import urlsplit

import httpx

from pagepulse.control import invitations
from tests.support.server import Server
from tests.support.site import new_api_keys
from tests.support.smtp import SmtpServer
from tests.team.helpers import (
    NO_SUCH_SITE,
    PASSWORD,
    client,
    database,
    html,
    logged_in,
    mail_to,
    new_site,
    new_user,
    submit,
)

SECRET = "test-secret"  # tests/support/server.py's PAGEPULSE_SECRET_KEY
_numbers = itertools.count(1)


class Site:
    """A fresh site on the module's server with its owner logged in."""

    def __init__(self, server: Server) -> None:
        n = next(_numbers)
        self.server = server
        self.domain = f"site{n}.example"
        self.owner_email = f"owner{n}@team.test"
        self.owner_id = new_user(server.data_dir, self.owner_email)
        self.id = new_site(server.data_dir, self.domain, self.owner_id)
        self.owner = logged_in(server, self.owner_email)

    @property
    def members_url(self) -> str:
        return f"/sites/{self.id}/members"

    def invite(self, browser: httpx.Client, email: str, role: str = "viewer") -> httpx.Response:
        return submit(
            browser, self.members_url, "form.invite-member", {"email": email, "role": role}
        )

    def add(self, email: str, role: str) -> tuple[int, httpx.Client]:
        """A member added straight in the database, logged in."""
        user_id = new_user(self.server.data_dir, email)
        with database(self.server.data_dir) as conn:
            conn.execute(
                "INSERT INTO site_members (site_id, user_id, role) VALUES (?, ?, ?)",
                (self.id, user_id, role),
            )
        return user_id, logged_in(self.server, email)

    def roles(self) -> dict[str, str]:
        with database(self.server.data_dir) as conn:
            rows = conn.execute(
                "SELECT u.email, m.role FROM site_members m JOIN users u ON u.id = m.user_id "
                "WHERE m.site_id = ? UNION ALL SELECT u.email, 'owner' FROM sites s "
                "JOIN users u ON u.id = s.owner_id WHERE s.id = ?",
                (self.id, self.id),
            ).fetchall()
        return {row[0]: row[1] for row in rows}


def link_in(smtp: SmtpServer, email: str) -> str:
    """The invitation link of the mail sent to ``email``, as a path on the server."""
    mail = mail_to(smtp, email)
    body = mail.message.get_content()
    [url] = [word for word in body.split() if "/invitations/" in word]
    return urlsplit(url).path


def invite_link(site: Site, smtp: SmtpServer, email: str, role: str = "viewer") -> str:
    response = site.invite(site.owner, email, role)
    assert response.status_code == 200 and response.url.path == site.members_url
    return link_in(smtp, email)


def test_invitation_mail_register_and_accept(server: Server, smtp: SmtpServer) -> None:
    site = Site(server)
    response = site.invite(site.owner, "Newcomer@Team.test", "viewer")
    assert "Sent an invitation to newcomer@team.test (viewer)." in response.text
    mail = mail_to(smtp, "newcomer@team.test")
    assert mail.message["Subject"] == f"You are invited to {site.domain} on PagePulse"
    assert mail.message["To"] == "newcomer@team.test"
    body = mail.message.get_content()
    assert f"{site.owner_email} invited you to {site.domain}" in body
    assert f"{server.url}/invitations/" in body
    path = link_in(smtp, "newcomer@team.test")

    # Only the SHA-256 of the link's random value is stored, never the value itself.
    raw = invitations.unsign_token(SECRET, path.rsplit("/", 1)[1])
    assert raw is not None
    with database(server.data_dir) as conn:
        [row] = conn.execute(
            "SELECT token_hash, email, role FROM invitations WHERE site_id = ?", (site.id,)
        ).fetchall()
    assert tuple(row) == (hashlib.sha256(raw.encode()).hexdigest(), "newcomer@team.test", "viewer")
    assert raw.encode() not in (server.data_dir / "pagepulse.sqlite3").read_bytes()

    # Logged out: the page names the site and role, and offers log-in or registration.
    browser = client(server)
    page = browser.get(path)
    assert page.status_code == 200
    assert site.domain in page.text and "viewer" in page.text
    register_href = html(page).css_first('.invitation a[href^="/register"]').attributes["href"]
    form_page = browser.get(register_href)
    assert html(form_page).css_first("input#email").attributes["value"] == "newcomer@team.test"
    data = {"email": "newcomer@team.test", "password": PASSWORD, "confirm": PASSWORD}
    back = submit(browser, register_href, "main form", data)
    assert back.url.path == path  # registered, and back on the invitation
    joined = submit(browser, path, "form.accept-invitation", {})
    assert joined.url.path == f"/sites/{site.id}"
    assert f"You joined {site.domain} as viewer." in joined.text
    assert site.roles()["newcomer@team.test"] == "viewer"
    listed = html(browser.get("/sites")).css_first(".site-item .site-role")
    assert listed.attributes["data-role"] == "viewer"

    # Single use: the same link, even for the same person, is spent.
    again = browser.get(path)
    assert again.status_code == 410 and "used already" in again.text
    assert browser.post(path, data={"csrf_token": csrf(browser)}).status_code == 410


def csrf(browser: httpx.Client) -> str:
    node = html(browser.get("/sites")).css_first("input[name=csrf_token]")
    return node.attributes["value"] or ""


def test_log_in_from_the_invitation_comes_back_to_it(server: Server, smtp: SmtpServer) -> None:
    site = Site(server)
    new_user(server.data_dir, "existing@team.test")
    path = invite_link(site, smtp, "existing@team.test", "admin")
    browser = client(server)
    login_href = (
        html(browser.get(path)).css_first('.invitation a[href^="/login"]').attributes["href"]
    )
    back = submit(
        browser, login_href, "main form", {"email": "existing@team.test", "password": PASSWORD}
    )
    assert back.url.path == path
    submit(browser, path, "form.accept-invitation", {})
    assert site.roles()["existing@team.test"] == "admin"
    assert browser.get(f"/sites/{site.id}/settings").status_code == 200


def test_the_wrong_account_cannot_use_an_invitation(server: Server, smtp: SmtpServer) -> None:
    site = Site(server)
    path = invite_link(site, smtp, "meant@team.test")
    new_user(server.data_dir, "other@team.test")
    other = logged_in(server, "other@team.test")
    page = other.get(path)
    assert page.status_code == 403
    assert "This invitation is for meant@team.test" in page.text
    assert html(page).css_first("form.accept-invitation") is None
    refused = other.post(path, data={"csrf_token": csrf(other)})
    assert refused.status_code == 403
    assert "other@team.test" not in site.roles()
    assert other.get(f"/sites/{site.id}").status_code == 404
    # The link was not spent: the invited person can still use it.
    new_user(server.data_dir, "meant@team.test")
    meant = logged_in(server, "meant@team.test")
    submit(meant, path, "form.accept-invitation", {})
    assert site.roles()["meant@team.test"] == "viewer"


def test_a_withdrawn_invitation_stops_working(server: Server, smtp: SmtpServer) -> None:
    site = Site(server)
    path = invite_link(site, smtp, "withdrawn@team.test")
    with database(server.data_dir) as conn:
        [(invitation_id,)] = conn.execute(
            "SELECT id FROM invitations WHERE site_id = ?", (site.id,)
        ).fetchall()
    members_page = html(site.owner.get(site.members_url))
    assert members_page.css_first(f'li[data-invitation-id="{invitation_id}"]') is not None
    form = f'li[data-invitation-id="{invitation_id}"] form.revoke-invitation'
    response = submit(site.owner, site.members_url, form, {})
    assert "Withdrew the invitation of withdrawn@team.test" in response.text
    assert html(response).css_first(f'li[data-invitation-id="{invitation_id}"]') is None

    new_user(server.data_dir, "withdrawn@team.test")
    invitee = logged_in(server, "withdrawn@team.test")
    page = invitee.get(path)
    assert page.status_code == 410 and "withdrawn" in page.text
    assert invitee.post(path, data={"csrf_token": csrf(invitee)}).status_code == 410
    assert "withdrawn@team.test" not in site.roles()


def test_an_expired_invitation_stops_working(server: Server, smtp: SmtpServer) -> None:
    site = Site(server)
    path = invite_link(site, smtp, "late@team.test")
    with database(server.data_dir) as conn:
        [(expires_at,)] = conn.execute(
            "SELECT expires_at FROM invitations WHERE site_id = ?", (site.id,)
        ).fetchall()
        assert 7 * 86400 - 60 < expires_at - time.time() <= 7 * 86400  # seven days
        conn.execute(
            "UPDATE invitations SET expires_at = ? WHERE site_id = ?", (time.time() - 1, site.id)
        )
    new_user(server.data_dir, "late@team.test")
    invitee = logged_in(server, "late@team.test")
    page = invitee.get(path)
    assert page.status_code == 410 and "expired" in page.text
    assert invitee.post(path, data={"csrf_token": csrf(invitee)}).status_code == 410
    assert "late@team.test" not in site.roles()
    # ... and it is no longer listed as pending.
    assert "late@team.test" not in site.owner.get(site.members_url).text


def test_a_tampered_or_unknown_link_is_404(server: Server, smtp: SmtpServer) -> None:
    site = Site(server)
    path = invite_link(site, smtp, "tamper@team.test")
    token = path.rsplit("/", 1)[1]
    # Another first character of the signature: every bit of it is signature (the last
    # character's low bits are base64 padding, and changing only those kept it valid).
    value, signature = token.rsplit(".", 1)
    flipped = f"{value}.{'A' if signature[0] != 'A' else 'Q'}{signature[1:]}"
    forged = invitations.sign_token("another-secret", "made-up-value")
    unknown = invitations.sign_token(SECRET, "a-value-never-issued")
    browser = client(server)
    for bad in (flipped, forged, unknown):
        page = browser.get(f"/invitations/{bad}")
        assert page.status_code == 404 and "not valid" in page.text


def test_inviting_again_replaces_the_pending_link(server: Server, smtp: SmtpServer) -> None:
    site = Site(server)
    first = invite_link(site, smtp, "twice@team.test", "viewer")
    smtp.received.clear()
    second = invite_link(site, smtp, "twice@team.test", "admin")
    assert first != second
    new_user(server.data_dir, "twice@team.test")
    invitee = logged_in(server, "twice@team.test")
    assert invitee.get(first).status_code == 410
    submit(invitee, second, "form.accept-invitation", {})
    assert site.roles()["twice@team.test"] == "admin"


def test_members_cannot_be_invited_twice_and_bad_input_is_400(server: Server) -> None:
    site = Site(server)
    site.add("already@team.test", "viewer")
    for email, role, message in (
        ("already@team.test", "admin", "already@team.test is already the viewer"),
        (site.owner_email, "viewer", "is already the owner"),
        ("not-an-address", "viewer", "Enter the email address"),
        ("fine@team.test", "owner", "Choose a role: admin or viewer."),
    ):
        response = site.invite(site.owner, email, role)
        assert response.status_code == 400, email
        assert message in response.text
    with database(server.data_dir) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM invitations WHERE site_id = ?", (site.id,)
            ).fetchone()[0]
            == 0
        )


def test_an_admin_invites_and_manages_but_cannot_touch_the_owner(
    server: Server, smtp: SmtpServer
) -> None:
    site = Site(server)
    _admin_id, admin = site.add("manager@team.test", "admin")
    viewer_id, viewer = site.add("reader@team.test", "viewer")
    assert site.invite(admin, "by-admin@team.test", "admin").status_code == 200
    assert "by-admin@team.test" in mail_to(smtp, "by-admin@team.test").rcpt_tos

    promoted = submit(
        admin,
        site.members_url,
        f'li[data-user-id="{viewer_id}"] form.change-role',
        {"role": "admin"},
    )
    assert "Role changed." in promoted.text
    assert viewer.get(f"/sites/{site.id}/settings").status_code == 200

    token = csrf(admin)
    for action in ("remove", "role"):
        response = admin.post(
            f"/sites/{site.id}/members/{action}",
            data={"csrf_token": token, "user_id": str(site.owner_id), "role": "viewer"},
        )
        assert response.status_code == 400
        assert "owner" in response.text
    assert site.roles()[site.owner_email] == "owner"
    # Only the owner sees the transfer form, and only the owner may post it.
    assert html(admin.get(site.members_url)).css_first("form.transfer-ownership") is None
    assert (
        admin.post(
            f"/sites/{site.id}/members/transfer",
            data={"csrf_token": token, "user_id": str(viewer_id), "confirm": site.domain},
        ).status_code
        == 403
    )


def test_a_removed_member_loses_access_at_once(server: Server) -> None:
    site = Site(server)
    viewer_id, viewer = site.add("removed@team.test", "viewer")
    [key] = new_api_keys(server.data_dir, viewer_id, ["removed's key"])
    query = {"site_id": site.domain, "metrics": ["visitors"], "date_range": "7d"}
    headers = {"authorization": f"Bearer {key}"}
    assert viewer.get(f"/sites/{site.id}").status_code == 200
    assert httpx.post(f"{server.url}/api/v2/query", json=query, headers=headers).status_code == 200

    form = f'li[data-user-id="{viewer_id}"] form.remove-member'
    response = submit(site.owner, site.members_url, form, {})
    assert f"Removed removed@team.test from {site.domain}." in response.text

    page = viewer.get(f"/sites/{site.id}")
    assert page.status_code == 404 and NO_SUCH_SITE in page.text
    assert site.domain not in viewer.get("/sites").text
    api = httpx.post(f"{server.url}/api/v2/query", json=query, headers=headers)
    assert api.status_code == 404


def test_a_viewers_api_key_reads_that_site_and_no_other(server: Server) -> None:
    site = Site(server)
    other = Site(server)
    viewer_id, _viewer = site.add("api-viewer@team.test", "viewer")
    [key] = new_api_keys(server.data_dir, viewer_id, ["viewer key"])
    headers = {"authorization": f"Bearer {key}"}

    def ask(domain: str) -> httpx.Response:
        body = {"site_id": domain, "metrics": ["visitors", "pageviews"], "date_range": "7d"}
        return httpx.post(f"{server.url}/api/v2/query", json=body, headers=headers)

    readable = ask(site.domain)
    assert readable.status_code == 200
    assert readable.json()["results"] == [{"metrics": [0, 0], "dimensions": []}]
    for domain in (other.domain, "never-registered.example"):
        refused = ask(domain)
        assert refused.status_code == 404
        assert (
            refused.json()["error"] == f'#/site_id: no site "{domain}" that this API key can read'
        )


def test_transfer_ownership_to_an_admin(server: Server) -> None:
    site = Site(server)
    admin_id, admin = site.add("heir@team.test", "admin")
    viewer_id, _viewer = site.add("bystander@team.test", "viewer")
    form = "form.transfer-ownership"
    options = html(site.owner.get(site.members_url)).css(f"{form} option")
    assert [o.attributes["value"] for o in options] == [str(admin_id)]  # admins only

    wrong = submit(
        site.owner, site.members_url, form, {"user_id": str(admin_id), "confirm": "nope"}
    )
    assert wrong.status_code == 400 and f"Type {site.domain} exactly" in wrong.text
    to_viewer = submit(
        site.owner, site.members_url, form, {"user_id": str(viewer_id), "confirm": site.domain}
    )
    assert to_viewer.status_code == 400 and "Choose an admin" in to_viewer.text
    assert site.roles()[site.owner_email] == "owner"

    done = submit(
        site.owner, site.members_url, form, {"user_id": str(admin_id), "confirm": site.domain}
    )
    assert done.status_code == 200
    assert "heir@team.test now owns" in done.text
    assert site.roles() == {
        "heir@team.test": "owner",
        site.owner_email: "admin",
        "bystander@team.test": "viewer",
    }
    with database(server.data_dir) as conn:
        owner_id = conn.execute("SELECT owner_id FROM sites WHERE id = ?", (site.id,)).fetchone()[0]
    assert owner_id == admin_id
    assert admin.get(f"/sites/{site.id}/delete").status_code == 200
    assert site.owner.get(f"/sites/{site.id}/delete").status_code == 403
    assert site.owner.get(f"/sites/{site.id}/settings").status_code == 200  # still an admin


def test_a_member_can_leave_and_the_owner_cannot(server: Server) -> None:
    site = Site(server)
    _viewer_id, viewer = site.add("leaver@team.test", "viewer")
    entry = html(viewer.get("/sites")).css_first(".site-item form.leave-site")
    assert entry is not None
    response = submit(viewer, "/sites", ".site-item form.leave-site", {})
    assert f"You left {site.domain}." in response.text
    assert "leaver@team.test" not in site.roles()
    assert viewer.get(f"/sites/{site.id}").status_code == 404
    owner_leaves = site.owner.post(f"/sites/{site.id}/leave", data={"csrf_token": csrf(site.owner)})
    assert owner_leaves.status_code == 400
    assert html(site.owner.get("/sites")).css_first("form.leave-site") is None


def test_pages_hide_what_the_role_cannot_use(server: Server) -> None:
    site = Site(server)
    _admin_id, admin = site.add("tabs-admin@team.test", "admin")
    _viewer_id, viewer = site.add("tabs-viewer@team.test", "viewer")

    def tabs(browser: httpx.Client) -> list[str]:
        page = html(browser.get(f"/sites/{site.id}"))
        return [
            a.attributes["href"].removeprefix(f"/sites/{site.id}") for a in page.css("nav.tabs a")
        ]

    assert "/delete" in tabs(site.owner)
    assert "/members" in tabs(admin) and "/delete" not in tabs(admin)
    assert set(tabs(viewer)) <= {"", "/reports"}
    viewer_page = viewer.get(f"/sites/{site.id}")
    assert 'data-domain="' not in viewer_page.text  # the empty dashboard shows no snippet
    assert f'href="/sites/{site.id}/shares"' not in viewer_page.text


def test_smtp_failure_shows_the_link_to_copy(server: Server, smtp: SmtpServer) -> None:
    site = Site(server)
    smtp.fail_next(1)
    response = site.invite(site.owner, "unlucky@team.test", "viewer")
    assert response.status_code == 200
    page = html(response)
    assert "could not be sent" in page.css_first(".invitation-link").text()
    url = page.css_first("pre.invitation-url").text().strip()
    path = urlsplit(url).path
    new_user(server.data_dir, "unlucky@team.test")
    invitee = logged_in(server, "unlucky@team.test")
    submit(invitee, path, "form.accept-invitation", {})
    assert site.roles()["unlucky@team.test"] == "viewer"
