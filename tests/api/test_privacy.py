"""No personal data reaches anyone without a token: every GET route of the app, walked.

An incident is reported with a known phone number as the reporter's contact, another number and a name in
its description, and a handling note repeating them. Then every GET route in the app's route table — the
OpenAPI paths and the pages kept out of the schema — is called without a token, path parameters filled with
real ids of the demo district, and no answer (JSON, HTML, vector tile, file download, zipped or not) may hold
the contact, the description or the note. A route whose path parameter this test cannot fill fails the test:
a new route has to be taught here, so it cannot slip past. Dispatchers do see the contact.

Staff logins are not for the public either: a dispatcher, a grid worker and a planner with distinctive logins
handle the incident, publish a plan and start a coverage run, and no public answer holds their logins (their
display names stand in); signed-in staff still see the logins.

What leaves the server is decided by the response model of each audience (api/schemas/incidents.py, open311.py):
the models are checked field by field, and a grid worker's pages mixing their own grid's incidents (staff view) with
others' (public view) are checked incident by incident.
"""

from __future__ import annotations

import io
import math
import re
import typing
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.schemas.incidents import INCIDENT_MODELS, REPORTED_MODELS, SUMMARY_MODELS
from api.schemas.open311 import ServiceRequestPublic, ServiceRequestStaff
from gis.auth.users import change_user
from gis.coverage.runs import create_run
from gis.incidents.privacy import Audience
from gis.locate.point import locate

CONTACT = "13912345678"
DESCRIPTION_PHONE = "13787654321"
DESCRIPTION = f"楼下夜间噪音扰民，请联系住户张三丰 {DESCRIPTION_PHONE}"
NOTE = f"已电话回访张三丰 {DESCRIPTION_PHONE}"
SECRETS = (CONTACT, DESCRIPTION_PHONE, "张三丰", "reporter_contact")
# Staff who act on the walk's data, by login and display name: the logins never reach the public.
STAFF = {
    "dispatcher": ("zq7-dispatch-login", "调度员李四"),
    "grid_worker": ("zq7-worker-login", "网格员王五"),
    "planner": ("zq7-planner-login", "规划员赵六"),
}
LOGINS = tuple(login for login, _ in STAFF.values())

TILE_LAYERS = ("communities", "grids", "buildings", "facilities", "incidents")
# Catch-all routes answering 404 for anything not served elsewhere (their problem still must not leak).
CATCH_ALL = {"/ogc/collections/{collectionId}", "/ogc/collections/{collectionId}/{rest:path}"}
# A photo attached to the incident (issue 16): to the public its routes answer 404, as for an id that does not exist,
# and no other answer names it.
PHOTO = "zq7-photo-upload"
UPLOADS = {"/api/uploads/{upload_id}", "/api/uploads/{upload_id}/thumbnail"}
TILE_ZOOM = 16


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _get_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every GET APIRoute, also inside included routers (FastAPI keeps those as nested router objects)."""
    for route in routes:
        if isinstance(route, APIRoute):
            if "GET" in route.methods:
                yield route
        elif hasattr(route, "original_router"):
            yield from _get_routes(route.original_router.routes)
        elif hasattr(route, "routes") and not hasattr(route, "app"):
            yield from _get_routes(route.routes)


def staff(client: Any, role: str, grids: tuple[str, ...] = ()) -> dict[str, str]:
    """Headers of the `STAFF` member of `role`, created with its display name when missing."""
    login, shown = STAFF[role]
    headers = client.as_role(role, login, grids=grids)
    change_user(client.session, login, actor="test", display_name=shown)
    return headers


@pytest.fixture
def reported(demo_client: TestClient, demo_session: Session) -> dict[str, Any]:
    lon, lat = demo_session.execute(
        text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(footprint) AS c FROM buildings ORDER BY id "
             "LIMIT 1) b")
    ).one()  # fmt: skip
    grid = locate(demo_session, lon, lat)["grid"]["code"]
    staff(demo_client, "grid_worker", grids=(grid,))  # the grid's worker, named in the answer to the report
    created = demo_client.anonymous.post(
        "/api/incidents",
        json={
            "category": "dispute",
            "description": DESCRIPTION,
            "location": {"lon": lon, "lat": lat},
            "channel": "hotline",
            "reporter_contact": CONTACT,
            "photo_url": f"https://example.invalid/{CONTACT}.jpg",
        },
    )
    assert created.status_code == 201, created.text
    assert not any(s in created.text for s in SECRETS)  # not even echoed to the anonymous reporter
    assert [w["name"] for w in created.json()["workers"]] == [STAFF["grid_worker"][1]]
    assert not any(login in created.text for login in LOGINS)
    incident_id = created.json()["id"]
    registered = demo_client.post(
        f"/api/incidents/{incident_id}/transitions",
        json={"action": "register", "note": NOTE},
        headers=staff(demo_client, "dispatcher"),
    )
    assert registered.status_code == 200, registered.text
    # The photo's row only: no file is read when the answer is 404 (tests/api/test_uploads.py stores real ones).
    demo_session.execute(
        text("""INSERT INTO uploads (id, client_hash, content_type, bytes, width, height, sha256, path, thumbnail_path)
                VALUES (:id, repeat('0', 64), 'image/jpeg', 1, 1, 1, repeat('0', 64), 'uploads/p.jpg',
                        'uploads/t.jpg')"""),
        {"id": PHOTO},
    )
    demo_session.execute(
        text("INSERT INTO incident_photos (incident_id, upload_id, kind, added_by) VALUES (:i, :id, 'report', 'p')"),
        {"id": PHOTO, "i": incident_id},
    )
    return {"id": incident_id, "lon": lon, "lat": lat}


def _values(session: Session, incident: dict[str, Any]) -> dict[str, Any]:
    """Real ids for every path parameter the app's GET routes use."""
    one = lambda sql: session.execute(text(sql)).scalar_one()  # noqa: E731
    x, y = _tile(incident["lon"], incident["lat"], TILE_ZOOM)
    facility = one("SELECT min(id) FROM facilities")
    return {
        "plan_id": one("SELECT id FROM grid_plans WHERE status = 'published'"),
        "incident_id": incident["id"],
        "request_id": incident["id"],
        "tracking_number": one(f"SELECT tracking_number FROM incidents WHERE id = {int(incident['id'])}"),
        "service_code": "dispute",
        "run_id": one("SELECT max(id) FROM coverage_runs"),
        "facility_id": facility,
        "visit_id": 1,  # any id: visits are for signed-in staff only
        "webhook_id": 1,  # any id: webhooks are for admins only
        "upload_id": PHOTO,
        "name": "test-admin",
        "z": TILE_ZOOM,
        "x": x,
        "y": y,
        "tileMatrixSetId": "WebMercatorQuad",
        "tileMatrix": TILE_ZOOM,
        "tileCol": x,
        "tileRow": y,
        "collectionId": "no-such-collection",
        "rest": "items",
        # per layer / collection
        "feature_id": {
            layer: one(f"SELECT min(id) FROM {layer}")
            for layer in ("districts", "streets", "communities", "grids", "buildings", "facilities")
        }
        | {"network": one("SELECT min(id) FROM network_edges")},
        "featureId": {
            "districts": one("SELECT min(id) FROM districts"),
            "streets": one("SELECT min(id) FROM streets"),
            "communities": one("SELECT min(id) FROM communities"),
            "grids": one("SELECT min(id) FROM grids"),
            "buildings": one("SELECT min(id) FROM buildings"),
            "facilities": facility,
            "network": one("SELECT min(id) FROM network_edges"),
            "incidents": incident["id"],
            "catchments": f"{facility}-5",
        },
    }


def _query(path: str, route: APIRoute, values: dict[str, Any], incident: dict[str, Any]) -> dict[str, Any]:
    """Required query parameters, from the same real data."""
    known = {
        "against": values["plan_id"],
        "lon": incident["lon"],
        "lat": incident["lat"],
        "category": "health_station",
        "q": "社区",  # place search (/api/search)
    }
    query = {}
    for param in route.dependant.query_params:
        if param.field_info.is_required():
            assert param.alias in known, f"{path}: teach test_privacy a value for the query parameter {param.alias}"
            query[param.alias] = known[param.alias]
    return query


def _fill(path: str, values: dict[str, Any]) -> list[str]:
    """The path with every {parameter} replaced (several paths for /tiles/{layer}/…)."""
    paths = [path]
    if "{layer}" in path:
        paths = [path.replace("{layer}", layer) for layer in TILE_LAYERS]
    filled = []
    for candidate in paths:

        def value(match: re.Match[str], candidate: str = candidate) -> str:
            name = match.group(1)
            assert name in values, f"{path}: teach test_privacy how to fill the path parameter {{{name}}}"
            found = values[name]
            if isinstance(found, dict):  # keyed by the layer or collection the path names
                owner = re.search(r"/(?:api|collections)/(\w+)/", candidate)
                assert owner and owner.group(1) in found, f"{path}: no {{{name}}} for this layer"
                found = found[owner.group(1)]
            return str(found)

        filled.append(re.sub(r"\{(\w+)(?::\w+)?\}", value, candidate))  # {name} or {name:converter}
    return filled


def _contents(body: bytes) -> bytes:
    """The body, or every member of it when it is a zip (Shapefile downloads)."""
    if body[:4] != b"PK\x03\x04":
        return body
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return b"\n".join(archive.read(member) for member in archive.namelist())


def _staff_act(client: Any, incident_id: int) -> None:
    """The dispatcher dispatches the incident and its grid worker starts on it; the planner publishes a new plan
    (its operations name the planner) and starts a coverage run."""
    for action, role in (("dispatch", "dispatcher"), ("start", "grid_worker")):
        moved = client.post(
            f"/api/incidents/{incident_id}/transitions", json={"action": action}, headers=staff(client, role)
        )
        assert moved.status_code == 200, moved.text
    planner = staff(client, "planner")
    draft = client.post("/api/plans", json={"base": "current", "name": "署名测试"}, headers=planner)
    assert draft.status_code == 201, draft.text
    published = client.post(f"/api/plans/{draft.json()['id']}/publish", headers=planner | {"If-Match": "1"})
    assert published.status_code == 200, published.text
    create_run(client.session, categories=None, actor=STAFF["planner"][0])  # queued: enough to be read


def test_no_get_route_gives_the_public_personal_data(demo_client: TestClient, demo_session: Session, reported) -> None:
    public = demo_client.anonymous
    _staff_act(demo_client, reported["id"])
    values = _values(demo_session, reported)
    routes = {route.path: route for route in _get_routes(demo_client.app.router.routes)}
    schema_paths = {p for p, ops in demo_client.app.openapi()["paths"].items() if "get" in ops}
    assert schema_paths <= set(routes), f"the route walk missed {schema_paths - set(routes)}"

    # Beyond the defaults: every download format of the incidents, and the HTML view of every OGC resource.
    variants: dict[str, list[dict[str, Any]]] = {
        "/api/incidents/download": [{"format": f} for f in ("gpkg", "shp", "geojson", "csv")],
        "/open311/v2/requests.json": [{}, {"service_request_id": str(reported["id"])}],
    }
    called, refused = 0, []
    for path, route in sorted(routes.items()):
        query = _query(path, route, values, reported)
        extra = variants.get(path, [{}, {"f": "html"}] if path.startswith("/ogc") else [{}])
        for url in _fill(path, values):
            for more in extra:
                response = public.get(url, params=query | more)
                called += 1
                assert response.status_code < 500, (url, response.status_code, response.text[:300])
                if response.status_code in (401, 403):
                    refused.append(url)
                    assert response.headers["content-type"].startswith("application/problem+json")
                    continue
                expected = (200, 304, 404) if path in CATCH_ALL else (404,) if path in UPLOADS else (200, 304)
                assert response.status_code in expected, (url, more, response.status_code, response.text[:300])
                body = _contents(response.content)
                for secret in (*SECRETS, *LOGINS, *([] if path in UPLOADS else [PHOTO])):
                    assert secret.encode() not in body, f"{url} {more} gives the public {secret!r}"
                assert DESCRIPTION.encode() not in body and NOTE.encode() not in body, url

    assert called > 150  # every layer, collection and tile layer, not a handful
    # Only routes for signed-in users are refused, and they are refused (never served to the public).
    assert sorted(refused) == sorted(
        [
            "/api/audit",
            "/api/auth/me",
            "/api/auth/sessions",
            "/api/coverage/suggest",  # expensive: staff or an integration's token (issue 15 item 10)
            "/api/dashboard",  # the leaders' dashboard: admins, leaders, viewers
            "/api/events",  # the live event stream: staff only
            f"/api/incidents/{reported['id']}/dispatch-options",  # departments and workers: the dispatch centre
            "/api/incidents/events",  # the same stream at the dispatch desk's address
            "/api/users",
            "/api/users/test-admin",
            "/api/users/test-admin/tokens",
            "/api/visits",
            "/api/visits/1",
            "/api/webhooks",
            "/api/webhooks/1/deliveries",
            "/api/workers/me/checkins",
            "/api/workers/me/grids",
            "/api/workers/me/incidents",
        ]
    )
    # The incident is there for the public, just without its personal fields, its handlers by display name.
    detail = public.get(f"/api/incidents/{reported['id']}").json()
    assert detail["status"] == "in_progress" and detail["category"] == "dispute"
    assert {"reporter_contact", "description", "photo_url"}.isdisjoint(detail)
    assert all("note" not in event for event in detail["history"])
    dispatcher, worker, planner = (shown for _, shown in STAFF.values())
    assert [e["actor"] for e in detail["history"]] == ["public", dispatcher, dispatcher, worker]
    assert {op["actor"] for op in public.get(f"/api/plans/{values['plan_id']}/operations").json()} == {planner}
    assert public.get(f"/api/coverage/runs/{values['run_id']}").json()["actor"] == planner
    # Signed-in staff still see who acted by login.
    history = demo_client.get(f"/api/incidents/{reported['id']}").json()["history"]
    assert [e["actor"] for e in history][1:] == [STAFF["dispatcher"][0]] * 2 + [STAFF["grid_worker"][0]]
    operations = demo_client.get(f"/api/plans/{values['plan_id']}/operations").json()
    assert {op["actor"] for op in operations} == {STAFF["planner"][0]}
    assert demo_client.get(f"/api/coverage/runs/{values['run_id']}").json()["actor"] == STAFF["planner"][0]


@pytest.mark.parametrize("role", ["viewer", "planner"])
def test_roles_without_dispatch_get_the_public_view(demo_client: TestClient, reported, role: str) -> None:
    headers = demo_client.as_role(role)
    for url in (
        f"/api/incidents/{reported['id']}",
        "/api/incidents",
        f"/open311/v2/requests/{reported['id']}.json",
        "/open311/v2/requests.json",
    ):
        response = demo_client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        assert not any(s in response.text for s in SECRETS), (role, url)


def test_dispatchers_and_admins_see_the_reporters_contact(demo_client: TestClient, reported) -> None:
    for headers in (demo_client.as_role("dispatcher"), {}):  # {}: the client's own admin
        detail = demo_client.get(f"/api/incidents/{reported['id']}", headers=headers).json()
        assert detail["reporter_contact"] == CONTACT and detail["description"] == DESCRIPTION
        assert detail["history"][-1]["note"] == NOTE
        listed = demo_client.get("/api/incidents", headers=headers).json()
        mine = next(f for f in listed["features"] if f["id"] == reported["id"])
        assert mine["properties"]["reporter_contact"] == CONTACT


# What each audience must never be sent, by field name (Open311 calls the photo media_url).
PERSONAL = {"reporter_contact", "description", "photo_url", "media_url", "note", "photos"}
WITHHELD = {Audience.PUBLIC: PERSONAL, Audience.STAFF: {"reporter_contact"}, Audience.DISPATCH: set()}


def _field_names(model: type[BaseModel]) -> set[str]:
    """Every field name of `model` and of the models nested in it (the history's events)."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(name)
        pending = [field.annotation]
        while pending:
            annotation = pending.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                names |= _field_names(annotation)
            pending.extend(typing.get_args(annotation))
    return names


@pytest.mark.parametrize("audience", list(Audience))
def test_each_audience_model_holds_only_what_the_audience_may_see(audience: Audience) -> None:
    for models in (INCIDENT_MODELS, SUMMARY_MODELS, REPORTED_MODELS):
        fields = _field_names(models[audience])
        assert WITHHELD[audience].isdisjoint(fields), (models[audience].__name__, WITHHELD[audience] & fields)
        assert {"id", "category", "status", "grid_code"} <= fields
    # The answer to a report never echoes the reporter's contact, not even to a dispatcher who sent it.
    assert "reporter_contact" not in _field_names(REPORTED_MODELS[audience])
    assert ("reporter_contact" in _field_names(INCIDENT_MODELS[audience])) == (audience is Audience.DISPATCH)
    assert PERSONAL.isdisjoint(_field_names(ServiceRequestPublic))
    assert "reporter_contact" not in _field_names(ServiceRequestStaff)


def test_a_grid_worker_sees_the_staff_view_of_own_grids_only(demo_client: TestClient, demo_session: Session) -> None:
    """Pages mix audiences: each incident gets the model of its own audience, never the page's widest."""
    grids = demo_session.execute(
        text("""SELECT g.code, ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
                FROM grids g JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published'
                ORDER BY g.code LIMIT 2""")
    ).all()
    made = {}
    for grid in grids:
        created = demo_client.anonymous.post(
            "/api/incidents",
            json={
                "category": "dispute",
                "description": DESCRIPTION,
                "reporter_contact": CONTACT,
                "location": {"lon": grid.lon, "lat": grid.lat},
            },
        )
        assert created.status_code == 201, created.text
        made[grid.code] = created.json()["id"]
    own, foreign = made[grids[0].code], made[grids[1].code]
    worker = demo_client.as_role("grid_worker", "privacy-worker", grids=(grids[0].code,))

    moved = demo_client.post(
        f"/api/incidents/{own}/transitions",
        json={"action": "register", "note": NOTE},
        headers=demo_client.as_role("dispatcher"),
    )
    assert moved.status_code == 200 and moved.json()["reporter_contact"] == CONTACT  # the dispatcher's answer

    answers = {
        "list": demo_client.get("/api/incidents", params={"category": "dispute"}, headers=worker),
        "mine": demo_client.get("/api/workers/me/incidents", headers=worker),
        "detail": demo_client.get(f"/api/incidents/{own}", headers=worker),
        "open311": demo_client.get("/open311/v2/requests.json", headers=worker),
    }
    for name, answer in answers.items():
        assert answer.status_code == 200 and CONTACT not in answer.text, name
    shown = {f["id"]: f["properties"] for f in answers["list"].json()["features"]}
    assert shown[own]["description"] == DESCRIPTION and "reporter_contact" not in shown[own]
    assert PERSONAL.isdisjoint(shown[foreign])
    mine = answers["mine"].json()["features"]
    assert [f["properties"]["description"] for f in mine if f["id"] == own] == [DESCRIPTION]
    assert answers["detail"].json()["history"][-1]["note"] == NOTE
    requests = {int(r["service_request_id"]): r for r in answers["open311"].json()}
    assert requests[own]["description"] == DESCRIPTION
    assert PERSONAL.isdisjoint(requests[foreign])
