"""The billing webhook over HTTP: HMAC-SHA256 over "<t>.<body>", computed here from the
documented format (not with the server's code); good, bad, expired, replayed and
malformed deliveries; 404 wherever plans do not exist."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from pathlib import Path

import httpx
import pytest

from pagepulse.control.billing_webhook import TOLERANCE_SECONDS
from tests.billing.servers import WEBHOOK_SECRET, db_rows
from tests.support.server import Server
from tests.support.site import ensure_user

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
URL = "/api/billing/webhook"


def signed(body: bytes, *, secret: str = WEBHOOK_SECRET, t: int | None = None) -> dict[str, str]:
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"PagePulse-Signature": f"t={t},v1={mac}", "Content-Type": "application/json"}


def deliver(server: Server, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.url}{URL}", content=body, headers=headers)


def plan_of(server: Server, email: str) -> str:
    [(plan,)] = db_rows(server, "SELECT plan FROM users WHERE email = ?", email)
    return plan


def test_a_signed_delivery_changes_the_plan_once(saas_server):
    user_id = ensure_user(saas_server.data_dir, "hook@example.com", "a-long-password")
    body = json.dumps({"email": "Hook@Example.com", "plan": "business"}).encode()
    headers = signed(body)

    response = deliver(saas_server, body, headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "account_id": user_id,
        "email": "hook@example.com",
        "plan": "business",
    }
    assert plan_of(saas_server, "hook@example.com") == "business"
    assert db_rows(
        saas_server, "SELECT plan, source FROM plan_changes WHERE user_id = ?", user_id
    ) == [("business", "webhook")]

    # The same signed delivery again (a replay, or an attacker resending it): refused.
    replay = deliver(saas_server, body, headers)
    assert replay.status_code == 409 and "already applied" in replay.json()["error"]

    # By account id, re-signed: a new delivery.
    body = json.dumps({"account_id": user_id, "plan": "free"}).encode()
    assert deliver(saas_server, body, signed(body)).status_code == 200
    assert plan_of(saas_server, "hook@example.com") == "free"
    assert len(db_rows(saas_server, "SELECT 1 FROM plan_changes WHERE user_id = ?", user_id)) == 2


def test_a_second_signature_for_secret_rotation_is_accepted(saas_server):
    ensure_user(saas_server.data_dir, "rotate@example.com", "a-long-password")
    body = json.dumps({"email": "rotate@example.com", "plan": "pro"}).encode()
    good = signed(body)["PagePulse-Signature"]
    t, v1 = good.split(",")
    wrong = hmac.new(b"old-secret", f"{t[2:]}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"PagePulse-Signature": f"{t},v1={wrong},{v1}"}
    assert deliver(saas_server, body, headers).status_code == 200
    assert plan_of(saas_server, "rotate@example.com") == "pro"


BODY = json.dumps({"email": "victim@example.com", "plan": "business"}).encode()
# Well past the tolerance: the server reads its clock a moment after the test does, and
# on a loaded machine "now + tolerance + 1" was already back in range when it arrived.
OUT_OF_RANGE = TOLERANCE_SECONDS + 60


@pytest.mark.parametrize(
    ("headers", "body", "status", "error"),
    [
        ({}, BODY, 400, "missing PagePulse-Signature header"),
        ({"PagePulse-Signature": "sha256=abc"}, BODY, 400, "malformed PagePulse-Signature"),
        ({"PagePulse-Signature": "t=123"}, BODY, 400, "malformed PagePulse-Signature"),
        ("wrong secret", BODY, 401, "bad signature"),
        ("tampered", BODY.replace(b"business", b"pro"), 401, "bad signature"),
        ("expired", BODY, 401, "timestamp out of range"),
        ("future", BODY, 401, "timestamp out of range"),
        ("sign", b"{not json", 400, "the body must be JSON"),
        ("sign", b"[1, 2]", 400, "must be a JSON object"),
        ("sign", b'{"email": "victim@example.com"}', 400, '"plan" is required'),
        ("sign", b'{"email": "victim@example.com", "plan": "gold"}', 422, "unknown plan 'gold'"),
        ("sign", b'{"email": "nobody@example.com", "plan": "pro"}', 422, "no account with email"),
        ("sign", b'{"account_id": 99999, "plan": "pro"}', 422, "no account with id 99999"),
        ("sign", b'{"account_id": "1", "plan": "pro"}', 400, '"account_id" must be a whole'),
        ("sign", b'{"plan": "pro"}', 400, 'as "email" or as "account_id"'),
        (
            "sign",
            b'{"email": "victim@example.com", "account_id": 1, "plan": "pro"}',
            400,
            "one of them",
        ),
        ("sign", b" " * 20_000, 413, "exceeds 16384 bytes"),
    ],
)
def test_bad_deliveries_get_a_clear_4xx_and_change_nothing(
    saas_server, headers, body, status, error
):
    ensure_user(saas_server.data_dir, "victim@example.com", "a-long-password")
    now = int(time.time())
    # Signed here, not at collection: a long test session would age the timestamp.
    if headers == "wrong secret":
        headers = signed(body, secret="not-the-secret")
    elif headers == "tampered":  # signed for BODY, sent with another body
        headers = signed(BODY)
    elif headers == "expired":
        headers = signed(body, t=now - OUT_OF_RANGE)
    elif headers == "future":
        headers = signed(body, t=now + OUT_OF_RANGE)
    elif headers == "sign":
        headers = signed(body)
    response = deliver(saas_server, body, headers)
    assert response.status_code == status, response.text
    assert error in response.json()["error"]
    assert plan_of(saas_server, "victim@example.com") == "free"


def test_no_webhook_in_selfhosted_mode(selfhosted_server):
    ensure_user(selfhosted_server.data_dir, "selfhook@example.com", "a-long-password")
    body = json.dumps({"email": "selfhook@example.com", "plan": "pro"}).encode()
    assert deliver(selfhosted_server, body, signed(body)).status_code == 404
    assert plan_of(selfhosted_server, "selfhook@example.com") == "free"


def test_no_webhook_without_a_secret(tmp_path):
    server = Server(tmp_path / "data", env={"PAGEPULSE_MODE": "saas"}).start()
    try:
        ensure_user(server.data_dir, "nosecret@example.com", "a-long-password")
        body = json.dumps({"email": "nosecret@example.com", "plan": "pro"}).encode()
        assert deliver(server, body, signed(body, secret="")).status_code == 404
        assert httpx.get(f"{server.url}{URL}").status_code in (404, 405)
    finally:
        server.stop()


def test_the_readmes_worked_example_is_right():
    section = README.split("## Plans (SaaS mode)", 1)[1].split("\n## ", 1)[0]
    secret = re.search(r"secret\s+`([^`]+)`", section).group(1)
    t = re.search(r"timestamp\s+`(\d+)`", section).group(1)
    body = re.search(r"body\s+`([^`]+)`", section).group(1)
    header = re.search(r"PagePulse-Signature: (t=\d+,v1=[0-9a-f]{64})", section).group(1)
    mac = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    assert header == f"t={t},v1={mac}"
    assert f"# {mac}" in section  # what the openssl line prints
