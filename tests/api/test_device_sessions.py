"""Device sessions (the field app on a phone): a sign-in naming a device lives for days, is listed, and ends like
any other access token — one by one from anywhere, by signing out, and with a password change."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.conftest import GridmapClient

PASSWORD = "correct horse battery"


def sign_in(client: TestClient, name: str, device: str | None = None) -> dict:
    form = {"username": name, "password": PASSWORD} | ({"device": device} if device is not None else {})
    answer = client.post("/api/auth/token", data=form)
    assert answer.status_code == 200, answer.text
    return answer.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_device_sign_in_lives_for_days_and_is_listed(client: GridmapClient, session: Session) -> None:
    client.post(
        "/api/users", json={"name": "li", "role": "grid_worker", "password": PASSWORD, "display_name": "网格员"}
    )
    public = client.anonymous
    phone = sign_in(public, "li", device="field app (Android)")
    desk = sign_in(public, "li")
    assert phone["expires_in"] == 30 * 24 * 3600  # GRIDMAP_DEVICE_TOKEN_TTL_DAYS, 30 by default
    assert desk["expires_in"] == 480 * 60  # an ordinary sign-in keeps its hours
    assert public.get("/api/auth/me", headers=bearer(phone["access_token"])).json()["name"] == "li"

    listed = public.get("/api/auth/sessions", headers=bearer(phone["access_token"]))
    assert listed.status_code == 200, listed.text
    assert [(s["name"], s["current"]) for s in listed.json()] == [("field app (Android)", True)]
    from_desk = public.get("/api/auth/sessions", headers=bearer(desk["access_token"])).json()
    assert [s["current"] for s in from_desk] == [False]
    audited = session.execute(text("SELECT count(*) FROM audit_log WHERE action = 'user.device_sign_in'")).scalar_one()
    assert audited == 1


def test_a_device_session_is_ended_from_elsewhere(client: GridmapClient) -> None:
    client.post(
        "/api/users", json={"name": "li", "role": "grid_worker", "password": PASSWORD, "display_name": "网格员"}
    )
    client.post(
        "/api/users", json={"name": "zhao", "role": "grid_worker", "password": PASSWORD, "display_name": "网格员"}
    )
    public = client.anonymous
    lost, kept = sign_in(public, "li", device="旧手机"), sign_in(public, "li", device="新手机")
    desk = sign_in(public, "li")
    lost_id = next(s["id"] for s in public.get("/api/auth/sessions", headers=bearer(desk["access_token"])).json()
                   if s["name"] == "旧手机")  # fmt: skip

    # Another account cannot see or end it.
    other = sign_in(public, "zhao")
    assert public.get("/api/auth/sessions", headers=bearer(other["access_token"])).json() == []
    refused = public.delete(f"/api/auth/sessions/{lost_id}", headers=bearer(other["access_token"]))
    assert refused.status_code == 404 and refused.json()["where"] == "session_id"
    assert public.delete(f"/api/auth/sessions/{lost_id}").status_code == 401

    ended = public.delete(f"/api/auth/sessions/{lost_id}", headers=bearer(desk["access_token"]))
    assert ended.status_code == 204, ended.text
    assert public.get("/api/auth/me", headers=bearer(lost["access_token"])).status_code == 401
    assert public.get("/api/auth/me", headers=bearer(kept["access_token"])).status_code == 200
    remaining = public.get("/api/auth/sessions", headers=bearer(desk["access_token"])).json()
    assert [s["name"] for s in remaining] == ["新手机"]
    # Ending it again is harmless.
    assert public.delete(f"/api/auth/sessions/{lost_id}", headers=bearer(desk["access_token"])).status_code == 204


def test_sign_out_and_a_password_change_end_device_sessions(client: GridmapClient) -> None:
    client.post(
        "/api/users", json={"name": "li", "role": "grid_worker", "password": PASSWORD, "display_name": "网格员"}
    )
    public = client.anonymous
    phone = sign_in(public, "li", device="phone")
    out = public.post("/api/auth/sign-out", headers=bearer(phone["access_token"]))
    assert out.status_code == 204
    assert public.get("/api/auth/me", headers=bearer(phone["access_token"])).status_code == 401
    desk = sign_in(public, "li")
    assert public.get("/api/auth/sessions", headers=bearer(desk["access_token"])).json() == []

    again = sign_in(public, "li", device="phone")
    assert client.patch("/api/users/li", json={"password": "a brand new password"}).status_code == 200
    assert public.get("/api/auth/me", headers=bearer(again["access_token"])).status_code == 401
    fresh = public.post("/api/auth/token", data={"username": "li", "password": "a brand new password"}).json()
    assert public.get("/api/auth/sessions", headers=bearer(fresh["access_token"])).json() == []


def test_a_device_name_is_checked(client: GridmapClient) -> None:
    client.post(
        "/api/users", json={"name": "li", "role": "grid_worker", "password": PASSWORD, "display_name": "网格员"}
    )
    blank = client.anonymous.post("/api/auth/token", data={"username": "li", "password": PASSWORD, "device": " "})
    assert blank.status_code == 422 and blank.json()["where"] == "device"
    long = client.anonymous.post("/api/auth/token", data={"username": "li", "password": PASSWORD, "device": "x" * 101})
    assert long.status_code == 422
