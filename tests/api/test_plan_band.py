"""Issue 17: every plan has a household band (default, PATCH on drafts, errors on drafts and warnings on the
published plan, publish refused naming the finding) and redo next to undo — on the demo district in PostGIS."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.plans.edits import adjacent_grids

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def draft(client: TestClient) -> dict[str, Any]:
    response = client.post("/api/plans", json={"base": "current", "name": "户数区间"})
    assert response.status_code == 201, response.text
    return response.json()


def send(client: TestClient, plan: dict[str, Any], method: str, path: str, body: Any = None, **kw: Any) -> Any:
    headers = {"If-Match": f'"{plan["version"]}"', **kw.pop("headers", {})}
    response = client.request(method, f"/api/plans/{plan['id']}{path}", json=body, headers=headers)
    if response.status_code == 200:
        answer = response.json()
        plan["version"] = answer["plan"]["version"] if "plan" in answer else answer["version"]
    return response


def band(client: TestClient, plan: dict[str, Any], low: int, high: int, **kw: Any) -> Any:
    return send(client, plan, "PATCH", "", {"min_households": low, "max_households": high}, **kw)


def state(session: Session, plan_id: int) -> tuple[Any, ...]:
    assignments = session.execute(
        text("SELECT unit_id, grid_id FROM assignments WHERE plan_id = :p ORDER BY 1"), {"p": plan_id}
    ).all()
    grids = session.execute(
        text("SELECT id, code, households, ST_AsBinary(ST_Normalize(geom)) FROM grids WHERE plan_id = :p ORDER BY id"),
        {"p": plan_id},
    ).all()
    return tuple(assignments), tuple(grids)


def test_the_demo_and_new_drafts_have_the_default_band(demo_client: TestClient) -> None:
    published = demo_client.get("/api/plans").json()[0]
    assert (published["min_households"], published["max_households"]) == (300, 500)
    plan = draft(demo_client)
    assert (plan["min_households"], plan["max_households"]) == (300, 500)


def test_a_draft_without_a_band_gets_the_default(demo_session: Session, demo_client: TestClient) -> None:
    demo_session.execute(text("UPDATE grid_plans SET min_households = NULL, max_households = NULL"))
    plan = draft(demo_client)
    assert (plan["min_households"], plan["max_households"]) == (300, 500)


def test_patch_sets_the_band_of_a_draft_and_undo_restores_it(demo_client: TestClient) -> None:
    plan = draft(demo_client)
    response = band(demo_client, plan, 250, 450)
    assert response.status_code == 200, response.text
    assert (response.json()["min_households"], response.json()["max_households"]) == (250, 450)
    assert response.headers["ETag"] == f'"{plan["version"]}"'
    assert demo_client.get(f"/api/plans/{plan['id']}/operations").json()[-1]["kind"] == "band"
    assert send(demo_client, plan, "POST", "/undo").status_code == 200
    restored = demo_client.get(f"/api/plans/{plan['id']}").json()
    assert (restored["min_households"], restored["max_households"]) == (300, 500)


def test_patch_refuses_bad_bands_stale_versions_and_the_published_plan(demo_client: TestClient) -> None:
    plan = draft(demo_client)
    inverted = band(demo_client, plan, 500, 300)
    assert inverted.status_code == 422 and inverted.json()["where"] == "band"
    same = band(demo_client, plan, 300, 500, headers=ZH)
    assert same.status_code == 422 and "户数区间已是 300–500" in same.json()["detail"]
    stale = demo_client.patch(
        f"/api/plans/{plan['id']}", json={"min_households": 1, "max_households": 2}, headers={"If-Match": '"99"'}
    )
    assert stale.status_code == 412
    published = demo_client.get("/api/plans").json()[0]
    assert band(demo_client, published, 100, 900).status_code == 409


def test_out_of_band_grids_are_errors_that_block_publish(demo_client: TestClient) -> None:
    plan = draft(demo_client)
    assert demo_client.get(f"/api/plans/{plan['id']}/validation").json()["valid"]
    assert band(demo_client, plan, 300, 400).status_code == 200

    validation = demo_client.get(f"/api/plans/{plan['id']}/validation").json()
    above = [e for e in validation["errors"] if e["type"] == "households_above"]
    assert above and not validation["valid"] and all(e["geometry"] for e in above)
    refused = send(demo_client, plan, "POST", "/publish")
    assert refused.status_code == 409 and refused.json()["where"] == "validation"
    assert "households_above" in refused.json()["detail"] and above[0]["message"] in refused.json()["detail"]
    refused_zh = send(demo_client, plan, "POST", "/publish", headers=ZH)
    assert "校验错误" in refused_zh.json()["detail"]


def test_out_of_band_grids_of_the_published_plan_are_warnings(demo_session: Session, demo_client: TestClient) -> None:
    published = demo_client.get("/api/plans").json()[0]
    demo_session.execute(text("UPDATE grid_plans SET max_households = 400 WHERE id = :p"), {"p": published["id"]})
    validation = demo_client.get(f"/api/plans/{published['id']}/validation").json()
    assert validation["valid"]
    warned = [w for w in validation["warnings"] if w["type"] == "households_above"]
    assert warned and "outside the band 300–400" in warned[0]["message"]


def test_redo_applies_the_undone_edit_again(demo_session: Session, demo_client: TestClient) -> None:
    plan = draft(demo_client)
    before = state(demo_session, plan["id"])
    a, b = adjacent_grids(demo_session, plan["id"])[0]
    assert send(demo_client, plan, "POST", "/merge", {"grids": [a, b]}).status_code == 200
    merged = state(demo_session, plan["id"])
    assert send(demo_client, plan, "POST", "/undo").status_code == 200
    assert state(demo_session, plan["id"]) == before

    redone = send(demo_client, plan, "POST", "/redo")
    assert redone.status_code == 200, redone.text
    assert redone.json()["redid"]["kind"] == "merge" and redone.json()["kind"] == "redo"
    assert state(demo_session, plan["id"]) == merged
    assert send(demo_client, plan, "POST", "/redo").status_code == 409  # nothing left to redo
    assert send(demo_client, plan, "POST", "/undo").status_code == 200  # the redone merge is undone again
    assert state(demo_session, plan["id"]) == before


def test_a_new_edit_ends_the_redo_history(demo_client: TestClient) -> None:
    plan = draft(demo_client)
    assert band(demo_client, plan, 250, 450).status_code == 200
    assert send(demo_client, plan, "POST", "/undo").status_code == 200
    assert band(demo_client, plan, 200, 600).status_code == 200
    refused = send(demo_client, plan, "POST", "/redo", headers=ZH)
    assert refused.status_code == 409 and "没有可重做的编辑" in refused.json()["detail"]
