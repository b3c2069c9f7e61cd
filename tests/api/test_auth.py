"""Sign-in, tokens and roles: the OAuth2 password flow, expiry, API tokens and their revocation, what each
role may write, grid workers kept to their own grids and checking in, and the `gridmap user` commands."""

from __future__ import annotations

import hashlib
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
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.app import create_app
from gis.auth.tokens import SIGNING_KEY_META, issue_access_token
from gis.auth.users import Principal, create_user
from gis.db.cluster import ensure_database
from gis.geo.china_offsets import wgs84_to_gcj02
from gis.locate.point import locate
from gis.settings import Settings
from tests import samples
from tests.conftest import GridmapClient

PASSWORD = "correct horse battery"
GRIDMAP = str(Path(sys.executable).parent / "gridmap")


def sign_in(client: TestClient, name: str, password: str) -> Any:
    return client.anonymous.post("/api/auth/token", data={"username": name, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


# -- signing in --------------------------------------------------------------------------------------------------


def test_password_sign_in_issues_an_expiring_token_that_names_the_user(client: GridmapClient) -> None:
    created = client.post("/api/users", json={"name": "li.planner", "role": "planner", "password": PASSWORD})
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "planner" and PASSWORD not in created.text

    answer = sign_in(client, "li.planner", PASSWORD)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 480 * 60
    assert body["user"] == {"id": created.json()["id"], "name": "li.planner", "role": "planner", "via": "password"}
    claims = jwt.decode(body["access_token"], client.app.state.signing_key, algorithms=["HS256"])
    assert claims["sub"] == str(body["user"]["id"]) and claims["exp"] - claims["iat"] == 480 * 60

    me = client.anonymous.get("/api/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["name"] == "li.planner" and me.json()["via"] == "password"


def test_only_an_argon2_hash_of_the_password_is_stored(client: GridmapClient, session: Session) -> None:
    client.post("/api/users", json={"name": "wang", "role": "viewer", "password": PASSWORD})
    stored = session.execute(text("SELECT password_hash FROM users WHERE username = 'wang'")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    listed = client.get("/api/users").json()
    assert all("password_hash" not in u for u in listed) and PASSWORD not in str(listed)
    audit = session.execute(text("SELECT after::text FROM audit_log WHERE target = 'user:wang'")).scalars().all()
    assert audit and not any(PASSWORD in a or "argon2" in a for a in audit)


@pytest.mark.parametrize(("name", "password"), [("wang", "wrong password"), ("nobody", PASSWORD)])
def test_a_bad_password_or_unknown_user_is_401_with_one_message(
    client: GridmapClient, name: str, password: str
) -> None:
    client.post("/api/users", json={"name": "wang", "role": "viewer", "password": PASSWORD})
    refused = problem(sign_in(client, name, password), 401)
    assert refused["detail"] == "wrong user name or password"  # the same whether or not the user exists


def test_missing_expired_and_forged_tokens_are_401_with_a_bearer_challenge(client: GridmapClient) -> None:
    user = create_user(client.session, "zhao", "dispatcher", actor="test")
    key = client.app.state.signing_key
    public = client.anonymous

    missing = public.get("/api/auth/me")
    problem(missing, 401)
    assert missing.headers["www-authenticate"] == 'Bearer realm="gridmap"'

    principal = Principal(user["id"], "zhao", "dispatcher")
    expired = issue_access_token(principal, key, ttl_minutes=60, now=datetime.now(UTC) - timedelta(hours=2))
    refused = public.get("/api/auth/me", headers=bearer(expired["access_token"]))
    assert "expired" in problem(refused, 401)["detail"]
    assert refused.headers["www-authenticate"] == 'Bearer realm="gridmap", error="invalid_token"'

    forged = issue_access_token(principal, "not the key, though just as long as one", ttl_minutes=60)["access_token"]
    problem(public.get("/api/auth/me", headers=bearer(forged)), 401)
    problem(public.get("/api/auth/me", headers=bearer("garbage")), 401)
    # A bad token is refused even where the public is welcome: the page then knows to sign in again.
    problem(public.get("/api/incidents", headers=bearer(forged)), 401)
    valid = issue_access_token(principal, key, ttl_minutes=60)["access_token"]
    assert public.get("/api/auth/me", headers=bearer(valid)).status_code == 200


def test_the_token_ttl_setting_sets_the_expiry(client: GridmapClient, settings: Settings) -> None:
    client.app.state.settings = settings.model_copy(update={"token_ttl_minutes": 5})
    client.post("/api/users", json={"name": "wang", "role": "viewer", "password": PASSWORD})
    assert sign_in(client, "wang", PASSWORD).json()["expires_in"] == 300


def test_disabling_an_account_or_changing_its_role_takes_effect_at_once(client: GridmapClient) -> None:
    client.post("/api/users", json={"name": "wang", "role": "viewer", "password": PASSWORD})
    token = sign_in(client, "wang", PASSWORD).json()["access_token"]
    public = client.anonymous
    problem(public.post("/api/plans", json={"name": "草案"}, headers=bearer(token)), 403)

    changed = client.patch("/api/users/wang", json={"role": "planner"})
    assert changed.status_code == 200 and changed.json()["role"] == "planner"
    assert public.get("/api/auth/me", headers=bearer(token)).json()["role"] == "planner"  # same token, new role

    assert client.patch("/api/users/wang", json={"active": False}).json()["active"] is False
    assert "disabled" in problem(public.get("/api/auth/me", headers=bearer(token)), 401)["detail"]
    problem(sign_in(client, "wang", PASSWORD), 401)

    client.patch("/api/users/wang", json={"active": True, "password": "a new password"})
    problem(sign_in(client, "wang", PASSWORD), 401)
    assert sign_in(client, "wang", "a new password").status_code == 200


def test_the_signing_key_is_kept_in_meta_and_shared_by_every_app(engine, settings: Settings) -> None:
    first = create_app(settings.model_copy(update={"secret_key": None}), engine=engine)
    second = create_app(settings.model_copy(update={"secret_key": None}), engine=engine)
    with TestClient(first), TestClient(second):
        assert first.state.signing_key == second.state.signing_key
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT value FROM meta WHERE key = :k"), {"k": SIGNING_KEY_META})
            assert stored.scalar_one() == first.state.signing_key and len(first.state.signing_key) >= 40
    configured = create_app(settings.model_copy(update={"secret_key": "from-the-environment"}), engine=engine)
    with TestClient(configured):
        assert configured.state.signing_key == "from-the-environment"


def test_user_input_is_checked(client: GridmapClient) -> None:
    assert client.post("/api/users", json={"name": "has space", "role": "viewer"}).json()["where"] == "name"
    assert client.post("/api/users", json={"name": "public", "role": "viewer"}).json()["where"] == "name"
    assert client.post("/api/users", json={"name": "wang", "role": "mayor"}).json()["where"] == "role"
    assert client.post("/api/users", json={"name": "wang", "role": "viewer", "password": "short"}).status_code == 422
    assert client.post("/api/users", json={"name": "wang", "role": "viewer"}).status_code == 201
    problem(client.post("/api/users", json={"name": "wang", "role": "viewer"}), 409)
    problem(client.patch("/api/users/nobody", json={"role": "viewer"}), 404)
    problem(client.patch("/api/users/wang", json={}), 422)


# -- API tokens --------------------------------------------------------------------------------------------------


def test_api_tokens_are_shown_once_stored_hashed_and_revocable(client: GridmapClient, session: Session) -> None:
    client.post("/api/users", json={"name": "city-hotline", "role": "dispatcher"})
    issued = client.post("/api/users/city-hotline/tokens", json={"name": "12345 hotline"})
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    assert token.startswith("gmt_") and len(token) > 40

    stored = session.execute(
        text("SELECT token_hash, prefix FROM api_tokens WHERE id = :id"), {"id": issued.json()["id"]}
    )
    digest, prefix = stored.one()
    assert digest == hashlib.sha256(token.encode()).hexdigest() and token.startswith(prefix)
    assert session.execute(text("SELECT count(*) FROM api_tokens WHERE token_hash = :t"), {"t": token}).scalar() == 0
    listed = client.get("/api/users/city-hotline/tokens").json()
    assert [t["name"] for t in listed] == ["12345 hotline"] and token not in str(listed)

    public = client.anonymous
    me = public.get("/api/auth/me", headers=bearer(token))
    assert me.status_code == 200 and me.json()["name"] == "city-hotline" and me.json()["via"] == "api_token"
    assert public.get("/api/auth/me", headers=bearer(token)).json()["role"] == "dispatcher"

    revoked = client.delete(f"/api/tokens/{issued.json()['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert "revoked" in problem(public.get("/api/auth/me", headers=bearer(token)), 401)["detail"]
    assert client.delete(f"/api/tokens/{issued.json()['id']}").status_code == 200  # again: harmless
    problem(client.delete("/api/tokens/999999"), 404)
    problem(public.get("/api/auth/me", headers=bearer("gmt_" + "x" * 43)), 401)

    actions = session.execute(
        text("SELECT action, after::text FROM audit_log WHERE target = 'user:city-hotline' ORDER BY id")
    ).all()
    assert [a for a, _ in actions] == ["user.add", "token.issue", "token.revoke", "token.revoke"]
    assert not any(token in after or digest in after for _, after in actions)


def test_an_api_token_expires_and_dies_with_its_disabled_user(client: GridmapClient, session: Session) -> None:
    client.post("/api/users", json={"name": "bot", "role": "viewer"})
    token = client.post("/api/users/bot/tokens", json={"expires_days": 30}).json()["token"]
    public = client.anonymous
    assert public.get("/api/auth/me", headers=bearer(token)).status_code == 200
    session.execute(text("UPDATE api_tokens SET expires_at = now() - interval '1 second'"))
    problem(public.get("/api/auth/me", headers=bearer(token)), 401)

    fresh = client.post("/api/users/bot/tokens").json()["token"]
    client.patch("/api/users/bot", json={"active": False})
    problem(public.get("/api/auth/me", headers=bearer(fresh)), 401)
    problem(client.post("/api/users/bot/tokens"), 422)  # no new tokens for a disabled account


# -- roles on write routes ---------------------------------------------------------------------------------------


def _plan_id(session: Session) -> int:
    return session.execute(text("SELECT id FROM grid_plans WHERE status = 'published'")).scalar_one()


PLANNING, DISPATCH = {"admin", "planner"}, {"admin", "dispatcher"}
WRITES = {
    # what → (method, path, body, roles allowed); allowed roles get past the check (any status but 401/403)
    "create a draft plan": ("post", "/api/plans", {"base": "current", "name": "权限测试"}, PLANNING),
    "edit a plan": ("post", "/api/plans/{plan}/undo", None, PLANNING),
    "start a coverage run": ("post", "/api/coverage/runs", {"categories": ["casino"]}, PLANNING),
    "add a facility": ("post", "/api/facilities", {"category": "casino", "lon": 121.55, "lat": 29.87}, PLANNING),
    "change a facility": ("patch", "/api/facilities/999999", {"name": "x"}, PLANNING),
    "remove a facility": ("delete", "/api/facilities/999999", None, PLANNING),
    "move an incident": ("post", "/api/incidents/{incident}/transitions", {"action": "register"}, DISPATCH),
    "relocate an incident": ("post", "/api/incidents/999999/location", {"address": "x"}, DISPATCH | {"grid_worker"}),
    "create a user": ("post", "/api/users", {"name": "newcomer", "role": "viewer"}, {"admin"}),
    "issue a token": ("post", "/api/users/test-viewer/tokens", None, {"admin"}),
    "read the audit trail": ("get", "/api/audit", None, {"admin"}),
}
ROLES = ("admin", "planner", "dispatcher", "grid_worker", "viewer")


@pytest.mark.parametrize("write", sorted(WRITES))
def test_each_role_may_do_only_its_own_writes(demo_client: GridmapClient, demo_session: Session, write: str) -> None:
    method, path, body, allowed = WRITES[write]
    incident = demo_client.anonymous.post(
        "/api/incidents", json={"category": "sanitation", "address": "x", "location": {"lon": 121.5, "lat": 29.8}}
    )
    incident_id = incident.json()["id"] if incident.status_code == 201 else 999999
    url = path.format(plan=_plan_id(demo_session), incident=incident_id)
    headers = {role: demo_client.as_role(role) for role in ROLES}  # test-viewer exists for "issue a token"
    kwargs = {"json": body} if body is not None else {}
    for role in ROLES:
        with demo_session.begin_nested() as attempt:  # each role starts from the same state
            answer = getattr(demo_client, method)(url, headers=headers[role] | {"If-Match": "1"}, **kwargs)
            attempt.rollback()
        if role in allowed:
            assert answer.status_code not in (401, 403), (role, answer.text)
        else:
            assert problem(answer, 403)["where"] in ("role", "id", "action"), (role, answer.text)
    public = getattr(demo_client.anonymous, method)(url, headers={"If-Match": "1"}, **kwargs)
    assert "sign in" in problem(public, 401)["detail"]
    assert public.headers["www-authenticate"].startswith("Bearer")


def test_the_public_reports_incidents_and_reads_public_layers(demo_client: GridmapClient) -> None:
    public = demo_client.anonymous
    for url in ("/api/communities", "/api/grids", "/ogc/collections", "/maps/public", "/api/plans", "/health"):
        assert public.get(url).status_code == 200, url
    reported = public.post(
        "/api/incidents", json={"category": "sanitation", "location": {"lon": 121.548, "lat": 29.868}}
    )
    assert reported.status_code == 201, reported.text
    history = demo_client.get(f"/api/incidents/{reported.json()['id']}").json()["history"]
    assert history[0]["actor"] == "public"
    opened = public.post(
        "/open311/v2/requests.json", data={"service_code": "sanitation", "lat": 29.868, "long": 121.548}
    )
    assert opened.status_code == 201, opened.text
    request_id = opened.json()[0]["service_request_id"]
    assert demo_client.get(f"/api/incidents/{request_id}").json()["history"][0]["actor"] == "open311"


def test_the_actor_is_the_signed_in_user_never_a_header(demo_client: GridmapClient) -> None:
    headers = demo_client.as_role("planner", "planner-zhang") | {"X-Gridmap-User": "someone-else"}
    draft = demo_client.post("/api/plans", json={"base": "current", "name": "署名测试"}, headers=headers)
    assert draft.status_code == 201, draft.text
    operations = demo_client.get(f"/api/plans/{draft.json()['id']}/operations").json()
    assert [(op["kind"], op["actor"]) for op in operations] == [("create", "planner-zhang")]
    trail = demo_client.get("/api/audit", params={"target": f"plan:{draft.json()['id']}"}).json()["entries"]
    assert trail and {e["actor"] for e in trail} == {"planner-zhang"}


# -- grid workers ------------------------------------------------------------------------------------------------


@pytest.fixture
def two_grids(demo_session: Session) -> list[dict[str, Any]]:
    """Two grids of the published plan, each with a point well inside it."""
    rows = demo_session.execute(
        text("""SELECT g.id, g.code, ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
                FROM grids g JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published'
                ORDER BY g.code LIMIT 2""")
    ).all()
    return [dict(r._mapping) for r in rows]


def _report_at(client: GridmapClient, grid: dict[str, Any], description: str) -> dict[str, Any]:
    response = client.anonymous.post(
        "/api/incidents",
        json={
            "category": "sanitation",
            "description": description,
            "reporter_contact": "13600000000",
            "location": {"lon": grid["lon"], "lat": grid["lat"]},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def dispatch_centre(client: GridmapClient, incident_id: int) -> None:
    """Register and dispatch the incident as a dispatcher: it is then the grid worker's to handle."""
    dispatcher = client.as_role("dispatcher")
    for action in ("register", "dispatch"):
        moved = client.post(f"/api/incidents/{incident_id}/transitions", json={"action": action}, headers=dispatcher)
        assert moved.status_code == 200, moved.text


def test_a_grid_worker_moves_only_incidents_in_their_own_grids(
    demo_client: GridmapClient, two_grids: list[dict[str, Any]]
) -> None:
    mine, other = two_grids
    worker = demo_client.as_role("grid_worker", "wangfang", grids=(mine["code"],))
    own = _report_at(demo_client, mine, "本网格的事件")
    foreign = _report_at(demo_client, other, "别的网格的事件")
    assert own["grid_code"] == mine["code"] and foreign["grid_code"] == other["code"]

    dispatch_centre(demo_client, own["id"])
    # Registering, dispatching, verifying and closing stay with the dispatch centre.
    wrong = problem(
        demo_client.post(f"/api/incidents/{own['id']}/transitions", json={"action": "close"}, headers=worker), 403
    )
    assert wrong["where"] == "action"
    moved = demo_client.post(f"/api/incidents/{own['id']}/transitions", json={"action": "start"}, headers=worker)
    assert moved.status_code == 200, moved.text
    assert moved.json()["history"][-1]["actor"] == "wangfang"
    refused = problem(
        demo_client.post(f"/api/incidents/{foreign['id']}/transitions", json={"action": "start"}, headers=worker),
        403,
    )
    assert refused["where"] == "id" and "wangfang" in refused["detail"]
    problem(demo_client.post(f"/api/incidents/{foreign['id']}/location", json={"address": "x"}, headers=worker), 403)
    assert demo_client.get(f"/api/incidents/{foreign['id']}").json()["status"] == "reported"  # unchanged
    problem(demo_client.post("/api/incidents/999999/transitions", json={"action": "start"}, headers=worker), 404)

    # Their own incident with its description (they handle it), never the reporter's contact; others' public.
    detail = demo_client.get(f"/api/incidents/{own['id']}", headers=worker).json()
    assert detail["description"] == "本网格的事件" and "reporter_contact" not in detail
    assert "description" not in demo_client.get(f"/api/incidents/{foreign['id']}", headers=worker).json()

    listed = demo_client.get("/api/workers/me/incidents", headers=worker).json()
    ids = {f["id"] for f in listed["features"]}
    assert own["id"] in ids and foreign["id"] not in ids
    assert {f["properties"]["grid_code"] for f in listed["features"]} == {mine["code"]}
    assert "13600000000" not in str(listed)
    problem(demo_client.get("/api/workers/me/incidents", headers=demo_client.as_role("dispatcher")), 403)


def test_a_grid_worker_follows_the_grid_into_a_new_plan(
    demo_client: GridmapClient, demo_session: Session, two_grids: list[dict[str, Any]]
) -> None:
    mine, _ = two_grids
    worker = demo_client.as_role("grid_worker", "wangfang", grids=(mine["code"],))
    planner = demo_client.as_role("planner")
    draft = demo_client.post("/api/plans", json={"base": "current", "name": "新一版"}, headers=planner).json()
    published = demo_client.post(f"/api/plans/{draft['id']}/publish", headers=planner | {"If-Match": "1"})
    assert published.status_code == 200, published.text
    own = _report_at(demo_client, mine, "新方案里的事件")  # located in the new plan's copy of the grid
    assert own["plan_id"] == draft["id"]
    dispatch_centre(demo_client, own["id"])
    moved = demo_client.post(f"/api/incidents/{own['id']}/transitions", json={"action": "start"}, headers=worker)
    assert moved.status_code == 200, moved.text


def test_check_in_lands_on_the_right_grid_in_any_coordinate_system(
    demo_client: GridmapClient, demo_session: Session, two_grids: list[dict[str, Any]]
) -> None:
    mine, other = two_grids
    worker = demo_client.as_role("grid_worker", "wangfang", grids=(mine["code"],))
    here = demo_client.post(
        "/api/workers/me/checkins",
        json={"location": {"lon": mine["lon"], "lat": mine["lat"]}, "accuracy_m": 8.5},
        headers=worker,
    )
    assert here.status_code == 201, here.text
    body = here.json()
    assert body["grid"]["code"] == mine["code"] and body["own_grid"] is True and body["status"] == "inside"
    assert body["accuracy_m"] == 8.5 and body["community"]["code"]

    gcj_lon, gcj_lat = wgs84_to_gcj02(other["lon"], other["lat"])  # as a phone's AMap/WeChat location gives it
    there = demo_client.post(
        "/api/workers/me/checkins",
        json={"location": {"lon": float(gcj_lon), "lat": float(gcj_lat), "crs": "gcj02"}},
        headers=worker,
    ).json()
    assert there["grid"]["code"] == other["code"] and there["own_grid"] is False
    assert abs(there["location"]["lon"] - other["lon"]) < 1e-6 and abs(there["location"]["lat"] - other["lat"]) < 1e-6

    stored = demo_session.execute(
        text("""SELECT g.code, c.own_grid FROM worker_checkins c JOIN grids g ON g.id = c.grid_id
                JOIN users u ON u.id = c.user_id WHERE u.username = 'wangfang' ORDER BY c.id""")
    ).all()
    assert [tuple(r) for r in stored] == [(mine["code"], True), (other["code"], False)]
    listed = demo_client.get("/api/workers/me/checkins", headers=worker).json()
    assert [c["grid"]["code"] for c in listed] == [other["code"], mine["code"]]  # newest first
    trail = demo_client.get("/api/audit", params={"action": "worker.checkin"}).json()["entries"]
    assert len(trail) == 2 and str(mine["lon"]) not in str(trail)  # where the worker stood stays out of the trail

    problem(
        demo_client.post("/api/workers/me/checkins", json={"location": {"lon": 200, "lat": 29.8}}, headers=worker), 422
    )
    problem(
        demo_client.post(
            "/api/workers/me/checkins", json={"location": {"lon": mine["lon"], "lat": mine["lat"]}},
            headers=demo_client.as_role("dispatcher"),
        ),
        403,
    )  # fmt: skip
    problem(demo_client.anonymous.post("/api/workers/me/checkins", json={"location": {"lon": 1, "lat": 1}}), 401)


def test_admins_create_grid_workers_with_their_grids(
    demo_client: GridmapClient, demo_session: Session, two_grids: list[dict[str, Any]]
) -> None:
    mine, _ = two_grids
    worker = {"name": "wangfang", "role": "grid_worker", "password": PASSWORD, "grids": [mine["code"]]}
    # The public sees a grid worker by display name, so one is required, and it may not be the login.
    assert problem(demo_client.post("/api/users", json=worker), 422)["where"] == "display_name"
    assert problem(demo_client.post("/api/users", json=worker | {"display_name": "WangFang"}), 422)["where"] == (
        "display_name"
    )
    made = demo_client.post("/api/users", json=worker | {"display_name": " 王芳 "})
    assert made.status_code == 201, made.text
    assert made.json()["grids"] == [mine["code"]] and made.json()["display_name"] == "王芳"
    token = sign_in(demo_client, "wangfang", PASSWORD).json()["access_token"]
    assert demo_client.anonymous.get("/api/workers/me/incidents", headers=bearer(token)).status_code == 200
    # /api/locate reads on its own autocommit pool, which cannot see this test's transaction: ask gis directly.
    assert [w["name"] for w in locate(demo_session, mine["lon"], mine["lat"])["workers"]] == ["王芳"]
    problem(demo_client.post("/api/users", json={"name": "x", "role": "viewer", "grids": [mine["code"]]}), 422)


# -- the command line --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_database(engine) -> Iterator[str]:
    """A database of its own (named after the configured one): the CLI commits."""
    url = make_url(engine.url.render_as_string(False))
    name = f"{url.database}_auth_cli"
    ensure_database(url.set(database="postgres").render_as_string(False), name, recreate=True)
    yield url.set(database=name).render_as_string(False)


def gridmap(database: str, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k != "GRIDMAP_ADMIN_PASSWORD"}
    environment = inherited | {"GRIDMAP_DATABASE_URL": database, "COLUMNS": "200"} | env
    return subprocess.run(
        [GRIDMAP, *args], input=stdin, capture_output=True, text=True, env=environment, timeout=300, check=False
    )


def scalar(database: str, sql: str) -> Any:
    engine = create_engine(database)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


def test_cli_user_add_and_token(cli_database: str, settings: Settings) -> None:
    done = gridmap(cli_database, "user", "add", "zhang", "--role", "planner", "--password", PASSWORD)
    assert done.returncode == 0 and "zhang added as planner" in done.stdout, done.stderr
    assert scalar(cli_database, "SELECT password_hash FROM users WHERE username = 'zhang'").startswith("$argon2id$")

    asked = gridmap(cli_database, "user", "add", "li", "--role", "dispatcher", stdin="a typed password\n" * 2)
    assert asked.returncode == 0, asked.stderr  # no --password: asked for twice

    again = gridmap(cli_database, "user", "add", "zhang", "--role", "viewer", "--password", PASSWORD)
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr

    issued = gridmap(cli_database, "user", "token", "zhang", "--name", "nightly export")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert token.startswith("gmt_") and "shown this once" in issued.stderr
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert scalar(cli_database, f"SELECT count(*) FROM api_tokens WHERE token_hash = '{digest}'") == 1

    app = create_app(settings.model_copy(update={"database_url": cli_database}))
    with TestClient(app) as http:
        assert http.get("/api/auth/me", headers=bearer(token)).json()["name"] == "zhang"
        signed_in = http.post("/api/auth/token", data={"username": "li", "password": "a typed password"})
        assert signed_in.status_code == 200 and signed_in.json()["user"]["role"] == "dispatcher"
        token_id = scalar(cli_database, f"SELECT id FROM api_tokens WHERE token_hash = '{digest}'")
        assert gridmap(cli_database, "user", "revoke", str(token_id)).returncode == 0
        assert http.get("/api/auth/me", headers=bearer(token)).status_code == 401

    listed = gridmap(cli_database, "user", "list")
    assert "zhang" in listed.stdout and "planner" in listed.stdout and PASSWORD not in listed.stdout
    disabled = gridmap(cli_database, "user", "set", "li", "--disabled")
    assert disabled.returncode == 0 and "disabled" in disabled.stdout
    assert scalar(cli_database, "SELECT actor FROM audit_log WHERE action = 'user.add' ORDER BY id LIMIT 1").startswith(
        "cli:"
    )


def test_gridmap_demo_creates_the_admin_once(cli_database: str, tmp_path: Path) -> None:
    # Any data makes `demo` skip loading the district, leaving just the admin account to check.
    samples.communities().to_file(tmp_path / "c.geojson")
    assert gridmap(cli_database, "import", "communities", str(tmp_path / "c.geojson")).returncode == 0
    engine = create_engine(cli_database)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE username = 'admin'"))
    engine.dispose()

    first = gridmap(cli_database, "demo", "--no-serve")
    assert first.returncode == 0, first.stderr
    password = next(
        line.split("admin password:")[1].split()[0] for line in first.stdout.splitlines() if "admin password:" in line
    )
    assert "shown this once" in first.stdout
    app = create_app(Settings(database_url=cli_database))
    with TestClient(app) as http:
        answer = http.post("/api/auth/token", data={"username": "admin", "password": password})
        assert answer.status_code == 200 and answer.json()["user"]["role"] == "admin"

    second = gridmap(cli_database, "demo", "--no-serve", GRIDMAP_ADMIN_PASSWORD="ignored-now-it-exists")
    assert second.returncode == 0 and password not in second.stdout and "shown this once" not in second.stdout
    assert scalar(cli_database, "SELECT count(*) FROM users WHERE username = 'admin'") == 1
