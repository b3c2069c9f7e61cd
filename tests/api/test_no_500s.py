"""Inputs that were 500s (issue 15, item 9), each now a clear 4xx naming the field: non-ASCII digits wherever a
value must be digits, NUL in JSON bodies of any JSON content type, JSON nested too deeply, catchment boxes a
hemisphere wide, unknown code layouts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.deps import if_match
from gis.errors import FileRejected, GridmapError
from gis.geo.crs import parse_crs
from gis.ogc.collections import COLLECTIONS
from gis.registry import ascii_digits
from tests.api.test_limits import a_point, assert_problem, count, draft, plan_state, report_body

SUPERSCRIPT_TWO = "%C2%B2"  # "²": str.isdigit() says yes, int() says no
OTHER_DIGITS = ["²", "١", "٣٤", "１２", "߁"]  # superscript, Arabic-Indic, fullwidth, NKo


def test_digits_mean_ascii_digits() -> None:
    assert ascii_digits("0") and ascii_digits("4549") and ascii_digits("0012")
    for text_ in ["", " 1", "1.0", "-1", "+1", *OTHER_DIGITS, "1²"]:
        assert not ascii_digits(text_), text_


@pytest.mark.parametrize("collection", sorted(COLLECTIONS))
def test_a_superscript_feature_id_is_no_feature_of_any_collection(demo_client: TestClient, collection: str) -> None:
    assert_problem(demo_client.get(f"/ogc/collections/{collection}/items/{SUPERSCRIPT_TWO}"), 404, "featureId")


def test_catchment_ids_and_tile_matrices_take_ascii_digits_only(demo_client: TestClient) -> None:
    assert_problem(demo_client.get("/ogc/collections/catchments/items/1-%C2%B9%E2%81%B5"), 404, "featureId")  # 1-¹⁵
    assert_problem(demo_client.get(f"/ogc/collections/catchments/items/{SUPERSCRIPT_TWO}-5"), 404, "featureId")
    tile = f"/ogc/collections/buildings/tiles/WebMercatorQuad/{SUPERSCRIPT_TWO}/0/0"
    assert_problem(demo_client.get(tile), 400, "tileMatrix")
    assert demo_client.get("/ogc/collections/buildings/tiles/WebMercatorQuad/0/0/0").status_code == 200


def test_crs_codes_plan_ids_and_versions_take_ascii_digits_only(demo_client: TestClient) -> None:
    assert_problem(demo_client.get(f"/ogc/collections/grids/items?crs=EPSG:{SUPERSCRIPT_TWO}"), 400, "crs")
    for code in ("EPSG:²", "EPSG:٤٥٤٩", "²"):  # not EPSG:2, nor EPSG:4549 written in Arabic-Indic digits
        reach = demo_client.get("/api/reach", params={"lon": 121.55, "lat": 29.87, "crs": code})
        assert code in assert_problem(reach, 422)["detail"]
    assert_problem(demo_client.get(f"/api/buildings/download?crs=EPSG:{SUPERSCRIPT_TWO}"), 422, "crs")
    with pytest.raises(FileRejected):
        parse_crs("²")  # the import's --crs: not EPSG:2
    assert parse_crs("4549").to_epsg() == 4549
    assert_problem(demo_client.get(f"/api/plans/{SUPERSCRIPT_TWO}"), 422, "plan_id")
    assert_problem(demo_client.post("/api/plans", json={"base": "²", "name": "x"}), 422, "base")
    for value in OTHER_DIGITS:  # If-Match: the plan version an edit is based on
        with pytest.raises(GridmapError) as refused:
            if_match(value)
        assert refused.value.status == 422 and refused.value.where == "If-Match"
    assert if_match('W/"12"') == 12
    open311 = demo_client.get("/open311/v2/requests.json", params={"service_request_id": "²,١"})
    assert open311.status_code == 200 and open311.json() == []


@pytest.mark.parametrize("layout", ["nope", "²", "CJT349"])
def test_renumber_with_an_unknown_layout_is_422_naming_layout(
    demo_session: Session, demo_client: TestClient, layout: str
) -> None:
    plan = draft(demo_client)
    before = plan_state(demo_session, plan["id"])
    response = demo_client.post(
        f"/api/plans/{plan['id']}/renumber", json={"layout": layout}, headers={"If-Match": str(plan["version"])}
    )
    body = assert_problem(response, 422, "layout")
    assert "cjt349" in body["detail"]  # the layouts that exist
    assert plan_state(demo_session, plan["id"]) == before


# -- NUL in JSON bodies ---------------------------------------------------------------------------------------


def raw_json(value: dict[str, Any]) -> bytes:
    return httpx.Request("POST", "/", json=value).content  # NUL written as \u0000, as any JSON encoder does


@pytest.mark.parametrize(
    "content_type",
    ["Application/JSON", "APPLICATION/JSON; charset=UTF-8", "application/vnd.api+json", "application/geo+json; x=1"],
)
def test_nul_in_a_body_of_any_json_content_type_is_422_naming_the_field(
    demo_session: Session, demo_client: TestClient, content_type: str
) -> None:
    before = count(demo_session, "incidents")
    body = raw_json(report_body(demo_session, description="垃圾\x00满溢"))
    response = demo_client.post("/api/incidents", content=body, headers={"Content-Type": content_type})
    assert_problem(response, 422, "body.description")
    lon, lat = a_point(demo_session)
    fields = {"service_code": "sanitation", "lat": lat, "long": lon, "description": "a\x00b"}
    open311 = demo_client.post(
        "/open311/v2/requests.json", content=raw_json(fields), headers={"Content-Type": content_type}
    )
    assert_problem(open311, 422, "body.description")
    assert count(demo_session, "incidents") == before


def test_open311_reads_json_of_any_json_content_type(demo_session: Session, demo_client: TestClient) -> None:
    lon, lat = a_point(demo_session)
    fields = {"service_code": "sanitation", "lat": lat, "long": lon, "description": "满了"}
    response = demo_client.post(
        "/open311/v2/requests.json", content=raw_json(fields), headers={"Content-Type": "Application/JSON"}
    )
    assert response.status_code == 201, response.text


# -- deep nesting ---------------------------------------------------------------------------------------------

DEEP_ARRAY = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000


@pytest.mark.parametrize("payload", [DEEP_ARRAY, DEEP_OBJECT, b'{"description":"\\u0000","a":' + DEEP_ARRAY + b"}"])
def test_json_nested_10000_deep_is_a_400_not_a_recursion_error(
    demo_session: Session, demo_client: TestClient, payload: bytes
) -> None:
    before = count(demo_session, "incidents")
    headers = {"Content-Type": "application/json"}
    body = assert_problem(demo_client.post("/api/incidents", content=payload, headers=headers), 400, "body")
    assert "nested too deeply" in body["detail"]
    assert_problem(demo_client.post("/api/plans", content=payload, headers=headers), 400, "body")
    open311 = demo_client.post("/open311/v2/requests.json", content=payload, headers=headers)
    assert open311.status_code == 400 and open311.json()[0]["code"] == 400  # Open311's own error format
    assert count(demo_session, "incidents") == before


def test_a_nul_under_json_nested_as_deep_as_it_can_be_read_is_still_named(demo_client: TestClient) -> None:
    payload = b'{"a":' + b"[" * 900 + b"]" * 900 + b',"description":"\\u0000"}'
    response = demo_client.post(
        "/open311/v2/requests.json", content=payload, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 422, "body.description")


# -- catchment boxes ------------------------------------------------------------------------------------------


def catchment_ids(client: TestClient, bbox: str, **params: str) -> list[str]:
    response = client.get("/ogc/collections/catchments/items", params={"bbox": bbox, "limit": 3, **params})
    assert response.status_code == 200, response.text
    return [f["id"] for f in response.json()["features"]]


def test_catchment_boxes_a_hemisphere_or_the_world_wide_answer_correctly(
    demo_session: Session, demo_client: TestClient
) -> None:
    w, s, e, n = demo_session.execute(
        text("SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT ST_Extent(geom) b FROM facilities) f")
    ).one()
    near = catchment_ids(demo_client, f"{w},{s},{e},{n}")
    assert len(near) == 3
    # 180° and 360° wide, pole to pole: the same first catchments (a box as a geography would run over the pole).
    for bbox in ("0,29,180,30", f"{e - 180},{s},{e},{n}", "-180,-90,180,90", f"{w},-90,{e},90"):
        assert catchment_ids(demo_client, bbox) == near, bbox
    assert catchment_ids(demo_client, "-180,-90,0,90") == []  # the other hemisphere
    world = "-20037508,-20037508,20037508,20037508"
    assert catchment_ids(demo_client, world, **{"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/3857"}) == near
    assert_problem(demo_client.get("/ogc/collections/catchments/items?bbox=170,29,-170,30"), 400, "bbox")
    assert_problem(demo_client.get(f"/ogc/collections/catchments/items?bbox={e},{s},{w},{n}"), 400, "bbox")
