"""Access tokens stop working at once when they should: after a password change (API and CLI), after the
account is disabled — also once it is enabled again — and after signing out; API tokens die with a disabled
account for good. A token issued after the change works."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.app import create_app
from gis.auth.tokens import ALGORITHM, ISSUER
from gis.db.cluster import ensure_database
from gis.db.engine import upgrade
from gis.settings import Settings
from tests.conftest import GridmapClient

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new password"
GRIDMAP = str(Path(sys.executable).parent / "gridmap")


def sign_in(client: TestClient, name: str, password: str) -> str:
    answer = client.post("/api/auth/token", data={"username": name, "password": password})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me(client: TestClient, token: str) -> Any:
    return client.get("/api/auth/me", headers=bearer(token))


def refused(response: Any) -> str:
    """The detail of a 401 for a token that was sent but is no longer good."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == 'Bearer realm="gridmap", error="invalid_token"'
    return response.json()["detail"]


@pytest.fixture
def wang(client: GridmapClient) -> TestClient:
    """A planner `wang` with PASSWORD; the anonymous client to sign in with."""
    made = client.post("/api/users", json={"name": "wang", "role": "planner", "password": PASSWORD})
    assert made.status_code == 201, made.text
    return client.anonymous


def test_a_password_change_ends_every_token_issued_before(client: GridmapClient, wang: TestClient) -> None:
    phone, desk = sign_in(wang, "wang", PASSWORD), sign_in(wang, "wang", PASSWORD)
    assert me(wang, phone).status_code == 200 and me(wang, desk).status_code == 200

    changed = client.patch("/api/users/wang", json={"password": NEW_PASSWORD})
    assert changed.status_code == 200, changed.text
    for old in (phone, desk):
        assert "password change" in refused(me(wang, old))
        refused(wang.post("/api/plans", json={"name": "草案"}, headers=bearer(old)))  # writes too, not only /me
    fresh = sign_in(wang, "wang", NEW_PASSWORD)
    assert me(wang, fresh).json()["name"] == "wang"

    # Changing only the role or the display name ends nothing: the role is read on every request anyway.
    client.patch("/api/users/wang", json={"role": "viewer", "display_name": "王工"})
    assert me(wang, fresh).json()["role"] == "viewer"
    trail = client.get("/api/audit", params={"target": "user:wang", "action": "user.change"}).json()["entries"]
    assert [e["after"].get("sessions") for e in trail] == [None, "ended"]  # newest first


def test_disabling_ends_tokens_and_enabling_does_not_revive_them(client: GridmapClient, wang: TestClient) -> None:
    before = sign_in(wang, "wang", PASSWORD)
    assert client.patch("/api/users/wang", json={"active": False}).status_code == 200
    assert "disabled" in refused(me(wang, before))
    assert client.patch("/api/users/wang", json={"active": True}).status_code == 200
    assert "disabling the account" in refused(me(wang, before))  # back on, the old token stays dead

    after = sign_in(wang, "wang", PASSWORD)
    assert me(wang, after).status_code == 200
    # Enabling an account that is enabled already changes nothing, and ends nothing.
    client.patch("/api/users/wang", json={"active": True})
    assert me(wang, after).status_code == 200


def test_signing_out_ends_this_token_or_every_token(client: GridmapClient, wang: TestClient, session: Session) -> None:
    phone, desk = sign_in(wang, "wang", PASSWORD), sign_in(wang, "wang", PASSWORD)
    out = wang.post("/api/auth/sign-out", headers=bearer(desk))
    assert out.status_code == 204, out.text
    assert "signed out" in refused(me(wang, desk))
    assert me(wang, phone).status_code == 200  # another device stays signed in
    refused(wang.post("/api/auth/sign-out", headers=bearer(desk)))  # once is enough
    stored = session.execute(text("SELECT count(*) FROM revoked_access_tokens")).scalar_one()
    assert stored == 1

    laptop = sign_in(wang, "wang", PASSWORD)
    everywhere = wang.post("/api/auth/sign-out", params={"everywhere": "true"}, headers=bearer(laptop))
    assert everywhere.status_code == 204, everywhere.text
    for old in (phone, laptop):
        assert "signing out everywhere" in refused(me(wang, old))
    assert me(wang, sign_in(wang, "wang", PASSWORD)).status_code == 200

    no_token = wang.post("/api/auth/sign-out")
    assert no_token.status_code == 401 and no_token.headers["content-type"].startswith("application/problem+json")
    actions = session.execute(
        text("SELECT after->>'everywhere' FROM audit_log WHERE action = 'user.sign_out' ORDER BY id")
    ).scalars()
    assert list(actions) == ["false", "true"]


def test_api_tokens_die_with_a_disabled_account_for_good(client: GridmapClient, session: Session) -> None:
    client.post("/api/users", json={"name": "hotline-bot", "role": "dispatcher", "password": PASSWORD})
    issued = client.post("/api/users/hotline-bot/tokens", json={"name": "12345"}).json()
    public = client.anonymous
    assert me(public, issued["token"]).json()["via"] == "api_token"

    # An integration's token does not depend on the account's password.
    client.patch("/api/users/hotline-bot", json={"password": NEW_PASSWORD})
    assert me(public, issued["token"]).status_code == 200
    # Nor can it sign out: an admin revokes it.
    signed_out = public.post("/api/auth/sign-out", headers=bearer(issued["token"]))
    assert signed_out.status_code == 422 and signed_out.json()["where"] == "Authorization"

    client.patch("/api/users/hotline-bot", json={"active": False})
    client.patch("/api/users/hotline-bot", json={"active": True})
    assert "revoked" in refused(me(public, issued["token"]))
    listed = client.get("/api/users/hotline-bot/tokens").json()
    assert [t["revoked_at"] is not None for t in listed] == [True]
    fresh = client.post("/api/users/hotline-bot/tokens").json()["token"]
    assert me(public, fresh).status_code == 200


def test_tokens_without_a_generation_are_refused(client: GridmapClient, wang: TestClient) -> None:
    """Tokens minted before generations existed (no `gen`, no `jti`) cannot be ended: they are refused."""
    user_id = client.get("/api/users/wang").json()["id"]
    now = datetime.now(UTC)
    claims = {"sub": str(user_id), "name": "wang", "iss": ISSUER, "iat": now, "exp": now + timedelta(hours=1)}
    old_style = jwt.encode(claims, client.app.state.signing_key, algorithm=ALGORITHM)
    assert "not valid" in refused(me(wang, old_style))
    stale = jwt.encode(claims | {"gen": -1, "jti": "x"}, client.app.state.signing_key, algorithm=ALGORITHM)
    assert "password change" in refused(me(wang, stale))


# -- the command line --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_database(engine) -> Iterator[str]:
    """A database of its own: the CLI commits."""
    url = make_url(engine.url.render_as_string(False))
    name = f"{url.database}_revocation_cli"
    ensure_database(url.set(database="postgres").render_as_string(False), name, recreate=True)
    database = url.set(database=name).render_as_string(False)
    upgrade(database)
    yield database


def gridmap(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "GRIDMAP_ADMIN_PASSWORD"}
    environment |= {"GRIDMAP_DATABASE_URL": database, "COLUMNS": "200"}
    done = subprocess.run([GRIDMAP, *args], capture_output=True, text=True, env=environment, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done


def test_the_cli_ends_tokens_too(cli_database: str, settings: Settings) -> None:
    gridmap(cli_database, "user", "add", "li", "--role", "dispatcher", "--password", PASSWORD)
    app = create_app(settings.model_copy(update={"database_url": cli_database, "sign_in_attempts_per_minute": 0}))
    with TestClient(app) as http:
        before = sign_in(http, "li", PASSWORD)
        gridmap(cli_database, "user", "set", "li", "--password", NEW_PASSWORD)
        assert "password change" in refused(me(http, before))
        after_set = sign_in(http, "li", NEW_PASSWORD)
        assert me(http, after_set).status_code == 200

        gridmap(cli_database, "user", "passwd", "li", "--password", PASSWORD)
        refused(me(http, after_set))
        after_passwd = sign_in(http, "li", PASSWORD)
        gridmap(cli_database, "user", "set", "li", "--disabled")
        gridmap(cli_database, "user", "set", "li", "--active")
        refused(me(http, after_passwd))
        assert me(http, sign_in(http, "li", PASSWORD)).status_code == 200
