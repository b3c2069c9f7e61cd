"""Open311 GeoReport v2 (JSON) over the incident service: other city systems and apps speak this.

Services are the incident categories; requests are incidents. Internal statuses map to open/closed.
Errors on these routes follow the spec — a list of {code, description} — instead of problem+json.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api.deps import PrincipalDep, SessionDep, SettingsDep
from gis import incidents, privacy
from gis.errors import GridmapError
from gis.incidents import IncidentFilter, Place
from gis.registry import incident_categories
from gis.settings import Settings
from gis.users import Principal
from gis.workflow import CLOSED_STATES

router = APIRouter(prefix="/open311/v2", tags=["open311"])
SPEC = "http://wiki.open311.org/GeoReport_v2"
MAX_REQUESTS = 1_000


def _errors(status: int, description: str) -> JSONResponse:
    return JSONResponse([{"code": status, "description": description}], status_code=status)


def _answer(session: Session, work: Callable[[], Any], status: int = 200) -> JSONResponse:
    """Run `work` in a savepoint: a refused request is answered in Open311's error format and leaves nothing."""
    try:
        with session.begin_nested():
            return JSONResponse(work(), status_code=status)
    except GridmapError as exc:
        where = f"{exc.where}: " if exc.where else ""
        return _errors(exc.status, where + exc.detail)


def _service(code: str) -> dict[str, Any]:
    category = incident_categories()[code]
    return {
        "service_code": code,
        "service_name": category.name_zh,
        "description": category.name_en,
        "metadata": False,
        "type": "realtime",
        "keywords": category.name_en.lower(),
        "group": category.department,
    }


def _request(incident: dict[str, Any]) -> dict[str, Any]:
    closed = incident["status"] in CLOSED_STATES
    category = incident_categories().get(incident["category"])
    return {
        "service_request_id": str(incident["id"]),
        "status": "closed" if closed else "open",
        "status_notes": incident["status"],
        "service_name": category.name_zh if category else incident["category"],
        "service_code": incident["category"],
        "description": incident.get("description"),  # withheld from the public view (gis.privacy)
        "agency_responsible": incident["department"],
        "service_notice": None,
        "requested_datetime": incident["reported_at"],
        "updated_datetime": incident["state_entered_at"],
        "expected_datetime": incident["deadline_at"],
        "address": incident["address"],
        "address_id": None,
        "zipcode": None,
        "lat": incident["lat"],
        "long": incident["lon"],
        "media_url": incident.get("photo_url"),
    }


@router.get("/discovery.json")
def discovery(request: Request) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/") + "/open311/v2"
    return {
        "changeset": "2026-11-23T00:00:00Z",
        "contact": "gridmap dispatch centre",
        "key_service": None,
        "endpoints": [
            {
                "specification": SPEC,
                "url": base,
                "changeset": "2026-11-23T00:00:00Z",
                "type": "production",
                "formats": ["application/json"],
            }
        ],
    }


@router.get("/services.json")
def services() -> list[dict[str, Any]]:
    return [_service(code) for code in incident_categories()]


@router.get("/services/{service_code}.json")
def service_definition(service_code: str) -> JSONResponse:
    if service_code not in incident_categories():
        return _errors(404, f"service_code {service_code!r} is unknown")
    return JSONResponse({"service_code": service_code, "attributes": []})


def _list(
    session: Session,
    who: Principal,
    ids: str | None,
    service_code: str | None,
    start: datetime | None,
    end: datetime | None,
    status: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    if ids:
        wanted = [int(i) for i in ids.split(",") if i.strip().isdigit()][:limit]
        return [_request(privacy.shown_incident(session, who, incidents.get_incident(session, i))) for i in wanted]
    page = privacy.shown_page(
        session,
        who,
        incidents.list_incidents(
            session, IncidentFilter(category=service_code, since=start, until=end), limit=limit, offset=0
        ),
    )
    found = [
        _request(f["properties"] | {"lon": f["geometry"]["coordinates"][0], "lat": f["geometry"]["coordinates"][1]})
        for f in page["features"]
    ]
    return [r for r in found if status is None or r["status"] == status]


@router.get("/requests.json")
def requests(
    session: SessionDep,
    settings: SettingsDep,
    who: PrincipalDep,
    service_request_id: Annotated[str | None, Query(description="comma-separated ids")] = None,
    service_code: str | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
) -> JSONResponse:
    limit = min(MAX_REQUESTS, settings.page_limit_max)  # Open311 has no paging: the newest ones
    return _answer(
        session, lambda: _list(session, who, service_request_id, service_code, start_date, end_date, status, limit)
    )


@router.get("/requests/{request_id}.json")
def request_by_id(request_id: int, session: SessionDep, who: PrincipalDep) -> JSONResponse:
    return _answer(
        session, lambda: [_request(privacy.shown_incident(session, who, incidents.get_incident(session, request_id)))]
    )


def _create(session: Session, settings: Settings, fields: dict[str, str], actor: str) -> list[dict[str, Any]]:
    code = fields.get("service_code")
    if not code:
        raise GridmapError("service_code is required", where="service_code")
    lat, lon, address = fields.get("lat"), fields.get("long"), fields.get("address_string")
    if (lat is None or lon is None) and not address:
        raise GridmapError("give lat and long, or address_string", where="location")
    try:
        place = Place(lon=float(lon), lat=float(lat), address=address) if lat and lon else Place(address=address)
    except ValueError:
        raise GridmapError("lat and long must be numbers", where="location") from None
    contact = fields.get("phone") or fields.get("email")
    incident, _ = incidents.report(
        session,
        category=code,
        place=place,
        settings=settings,
        description=fields.get("description"),
        channel="open311",
        reporter_contact=contact,
        photo_url=fields.get("media_url"),
        actor=actor,
    )
    return [{"service_request_id": str(incident["id"]), "service_notice": incident["department"], "account_id": None}]


@router.post("/requests.json")
async def create_request(
    request: Request, session: SessionDep, settings: SettingsDep, who: PrincipalDep
) -> JSONResponse:
    """POST as the spec says (form-encoded), or as a JSON object with the same fields."""
    raw = await request.body()
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            fields = {k: str(v) for k, v in json.loads(raw or b"{}").items()}
        else:
            fields = {k: v[0] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=False).items()}
    except (ValueError, UnicodeDecodeError, AttributeError):
        return _errors(400, "the body is neither form-encoded fields nor a JSON object")
    # Anonymous, as the spec has it; an integration with an API token is named in the history instead.
    actor = who.name if who.authenticated else "open311"
    return await run_in_threadpool(_answer, session, lambda: _create(session, settings, fields, actor), 201)
