"""Problems in the client's language: the same refused request asked in Chinese and in English.

Chinese (`Accept-Language: zh…`): Chinese `title` and `detail`, the English kept in `detail_en`, `where` still the
API's name with `where_label` beside it. English (or no header, as the test client sends): as it always was.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gis.settings import Settings
from tests.api.test_incidents import file_report
from tests.api.test_limits import anonymous, limit, report_body
from tests.api.test_plans import draft, grids, post

PROBLEM = "application/problem+json"
CJK = re.compile(r"[\u4e00-\u9fff]")
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-US,en;q=0.9"}


def chinese(response: httpx.Response, status: int, title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.headers["Content-Language"] == "zh-CN" and "Accept-Language" in response.headers["Vary"]
    body = response.json()
    assert body["title"] == title and CJK.search(body["detail"]), body
    assert body["detail_en"] and not CJK.search(body["detail_en"]) and body["detail_en"] != body["detail"]
    assert body["type"].startswith("urn:gridmap:problem:") and body["status"] == status
    return body


def english(response: httpx.Response, status: int, title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Language"] == "en" and "Accept-Language" in response.headers["Vary"]
    body = response.json()
    assert body["title"] == title and not CJK.search(body["detail"]), body
    assert "detail_en" not in body and "where_label" not in body
    return body


def far_apart(client: TestClient, plan_id: int) -> list[int]:
    features = sorted(grids(client, plan_id).values(), key=lambda g: g["id"])
    first = shapely.geometry.shape(features[0]["geometry"])
    far = max(features, key=lambda g: first.distance(shapely.geometry.shape(g["geometry"])))
    return [features[0]["id"], far["id"]]


def test_merge_of_grids_that_do_not_touch(demo_client: TestClient) -> None:
    plan = draft(demo_client)
    pair = far_apart(demo_client, plan["id"])
    headers = {"If-Match": f'"{plan["version"]}"'}

    zh = demo_client.post(f"/api/plans/{plan['id']}/merge", json={"grids": pair}, headers=headers | ZH)
    en = demo_client.post(f"/api/plans/{plan['id']}/merge", json={"grids": pair}, headers=headers | EN)
    plain = post(demo_client, plan, "merge", {"grids": pair})  # no Accept-Language: English

    body = chinese(zh, 422, "输入无效")
    assert body["detail"].startswith("只有相邻的网格才能合并") and body["where"] == "grids"
    assert body["where_label"] == "网格" and body["detail_en"] == en.json()["detail"]
    assert english(en, 422, "Invalid input")["detail"].startswith("grids must be adjacent to be merged")
    assert english(plain, 422, "Invalid input") == en.json()
    # The codes of the grids that do not touch are in both.
    assert all(code in body["detail"] for code in re.findall(r"\d{6,}", en.json()["detail"]))


def test_transition_not_allowed(demo_session: Session, demo_client: TestClient) -> None:
    incident = file_report(demo_client, demo_session).json()
    url = f"/api/incidents/{incident['id']}/transitions"

    zh = chinese(demo_client.post(url, json={"action": "close"}, headers=ZH), 409, "冲突")
    en = english(demo_client.post(url, json={"action": "close"}, headers=EN), 409, "Conflict")

    assert zh["detail"] == "事件当前状态为「已上报」，不能「结案」；现在可以：立案、不予立案、标记重复"
    assert en["detail"] == "cannot close an incident that is reported; allowed now: register, reject, mark_duplicate"
    assert zh["where"] == en["where"] == "action" and zh["where_label"] == "操作"


def test_role_not_allowed(demo_client: TestClient) -> None:
    viewer = demo_client.as_role("viewer", "viewer-wu")
    zh = chinese(demo_client.post("/api/plans", json={"base": "current"}, headers=viewer | ZH), 403, "无权操作")
    assert zh["detail"].startswith("编辑方案、图层、设施或覆盖率计算需要以下角色：管理员或规划员")
    assert "viewer-wu" in zh["detail"] and zh["where_label"] == "角色"
    english(demo_client.post("/api/plans", json={"base": "current"}, headers=viewer | EN), 403, "Forbidden")


def test_pydantic_errors(demo_session: Session, demo_client: TestClient) -> None:
    body = report_body(demo_session) | {"channel": "w" * 33}
    del body["category"]

    zh = chinese(demo_client.post("/api/incidents", json=body, headers=ZH), 422, "输入无效")
    en = english(demo_client.post("/api/incidents", json=body, headers=EN), 422, "Invalid input")

    by_where = {e["where"]: e for e in zh["errors"]}
    assert by_where["body.category"]["message"] == "必填" and by_where["body.category"]["where_label"] == "类别"
    assert by_where["body.channel"]["message"] == "最多 32 个字符" and by_where["body.channel"]["where_label"] == "渠道"
    assert by_where["body.channel"]["message_en"] == "String should have at most 32 characters"
    assert zh["detail"] == "body.category：必填；body.channel：最多 32 个字符"
    assert (
        zh["detail_en"]
        == en["detail"]
        == ("body.category: Field required; body.channel: String should have at most 32 characters")
    )
    assert [e["where"] for e in en["errors"]] == list(by_where) and "message_en" not in en["errors"][0]


def test_invalid_json(demo_client: TestClient) -> None:
    headers = ZH | {"Content-Type": "application/json"}
    zh = chinese(demo_client.post("/api/incidents", content=b'{"category": ', headers=headers), 422, "输入无效")
    assert zh["errors"][0]["message"].startswith("不是有效的 JSON（第 ") and zh["errors"][0]["where"] == "body"
    assert zh["errors"][0]["message_en"].startswith("not valid JSON at character")


def test_not_found(demo_client: TestClient) -> None:
    zh = chinese(demo_client.get("/api/nowhere", headers=ZH), 404, "未找到")
    en = english(demo_client.get("/api/nowhere", headers=EN), 404, "Not found")
    assert zh["detail"] == "/api/nowhere 处没有内容" and en["detail"] == "nothing at /api/nowhere"
    missing = chinese(demo_client.get("/api/plans/987654", headers=ZH), 404, "未找到")
    assert missing["detail"] == "方案 987654 不存在" and missing["detail_en"] == "plan 987654 does not exist"


def test_anonymous_report_limit(demo_session: Session, demo_client: TestClient, settings: Settings) -> None:
    limit(demo_client, settings, anonymous_submissions_per_minute=1)
    assert anonymous(demo_client, "POST", "/api/incidents", json=report_body(demo_session, 0)).status_code == 201

    zh = anonymous(demo_client, "POST", "/api/incidents", json=report_body(demo_session, 1), headers=ZH)
    en = anonymous(demo_client, "POST", "/api/incidents", json=report_body(demo_session, 2), headers=EN)

    body = chinese(zh, 429, "请求过于频繁")
    assert "每分钟超过 1 次事件上报" in body["detail"] and "或携带令牌" in body["detail"]
    assert f"请 {zh.headers['Retry-After']} 秒后重试" in body["detail"]
    assert "1 incident reports a minute" in english(en, 429, "Too many requests")["detail"]


def test_body_too_large(demo_session: Session, demo_client: TestClient, settings: Settings) -> None:
    limit(demo_client, settings, max_body_bytes=1000)
    body = report_body(demo_session, description="x" * 2000)

    zh = chinese(demo_client.post("/api/incidents", json=body, headers=ZH), 413, "内容过大")
    en = english(demo_client.post("/api/incidents", json=body, headers=EN), 413, "Content too large")

    assert zh["detail"] == "请求正文（body）：请求正文超过 1000 字节的上限" and zh["where"] == en["where"] == "body"
    assert (
        zh["where_label"] == "请求正文"
        and en["detail"] == "body: the request body is larger than the limit of 1000 bytes"
    )


def test_sign_in_backoff_speaks_chinese_through_the_shared_function(demo_client: TestClient) -> None:
    wrong = {"username": "test-admin", "password": "not the password"}
    zh = chinese(demo_client.anonymous.post("/api/auth/token", data=wrong, headers=ZH), 401, "未登录或登录已失效")
    assert zh["detail"] == "用户名或密码错误"


@pytest.mark.parametrize("header", ["zh", "zh-TW", "zh-Hans-CN", "fr, zh;q=0.5"])
def test_every_chinese_range_gets_chinese(demo_client: TestClient, header: str) -> None:
    chinese(demo_client.get("/api/nowhere", headers={"Accept-Language": header}), 404, "未找到")


@pytest.mark.parametrize("header", ["*", "en", "fr", "zh;q=0, en"])
def test_other_ranges_get_english(demo_client: TestClient, header: str) -> None:
    english(demo_client.get("/api/nowhere", headers={"Accept-Language": header}), 404, "Not found")


def test_unknown_detail_stays_english_under_a_chinese_title(demo_client: TestClient) -> None:
    """A message the catalog does not know (OGC's are not translated yet): its English, never nothing."""
    body = chinese_title_only(demo_client.get("/ogc/collections/nope", headers=ZH), 404)
    assert body["detail"] == body["detail_en"] and body["detail"].startswith("no collection")


def chinese_title_only(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["title"] == "未找到" and response.headers["Content-Language"] == "zh-CN"
    return body
