"""Open311 GeoReport v2 (JSON) over the incident service: other city systems and apps speak this.

Services are the incident categories; requests are incidents. Internal statuses map to open/closed.
Errors on these routes follow the spec — a list of {code, description} — instead of problem+json.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api.base_url import public_root
from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.limits import load_json
from api.media_types import is_json
from api.schemas.open311 import (
    Discovery,
    Endpoint,
    Service,
    ServiceDefinition,
    ServiceRequest,
    ServiceRequestCreated,
    check_field_lengths,
    service_request,
)
from gis.auth.users import Principal
from gis.errors import GridmapError
from gis.incidents import privacy
from gis.incidents import records as incidents
from gis.incidents.records import IncidentFilter, Place
from gis.registry import ascii_digits, incident_categories
from gis.settings import Settings

router = APIRouter(prefix="/open311/v2", tags=["open311"])
SPEC = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-23T00:00:00Z"
MAX_REQUESTS = 1_000
Answer = TypeVar("Answer")


def _errors(status: int, description: str) -> JSONResponse:
    return JSONResponse([{"code": status, "description": description}], status_code=status)


def _answer(session: Session, work: Callable[[], Answer]) -> Answer | JSONResponse:
    """Run `work` in a savepoint: a refused request is answered in Open311's error format and leaves nothing."""
    try:
        with session.begin_nested():
            return work()
    except GridmapError as exc:
        where = f"{exc.where}: " if exc.where else ""
        return _errors(exc.status, where + exc.detail)


def _service(code: str) -> Service:
    category = incident_categories()[code]
    return Service(
        service_code=code,
        service_name=category.name_zh,
        description=category.name_en,
        metadata=False,
        type="realtime",
        keywords=category.name_en.lower(),
        group=category.department,
    )


@router.get("/discovery.json")
def discovery(request: Request) -> Discovery:
    base = public_root(request) + "/open311/v2"
    return Discovery(
        changeset=CHANGESET,
        contact="gridmap dispatch centre",
        key_service=None,
        endpoints=[
            Endpoint(specification=SPEC, url=base, changeset=CHANGESET, type="production", formats=["application/json"])
        ],
    )


@router.get("/services.json")
def services() -> list[Service]:
    return [_service(code) for code in incident_categories()]


@router.get("/services/{service_code}.json", response_model=ServiceDefinition)
def service_definition(service_code: str) -> ServiceDefinition | JSONResponse:
    if service_code not in incident_categories():
        return _errors(404, f"service_code {service_code!r} is unknown")
    return ServiceDefinition(service_code=service_code, attributes=[])


def _one(session: Session, who: Principal, incident_id: int) -> ServiceRequest:
    audience = privacy.audience_of(session, who, incident_id)
    return service_request(incidents.get_incident(session, incident_id), audience)


def _list(
    session: Session,
    who: Principal,
    ids: str | None,
    service_code: str | None,
    start: datetime | None,
    end: datetime | None,
    status: str | None,
    limit: int,
) -> list[ServiceRequest]:
    if ids:
        wanted = [int(i) for i in ids.split(",") if ascii_digits(i.strip())][:limit]
        return [_one(session, who, i) for i in wanted]
    page = incidents.list_incidents(
        session, IncidentFilter(category=service_code, since=start, until=end), limit=limit, offset=0
    )
    audience_of = privacy.audience_by_grid(session, who)
    found = [
        service_request(
            f["properties"] | {"lon": f["geometry"]["coordinates"][0], "lat": f["geometry"]["coordinates"][1]},
            audience_of(f["properties"]["grid_id"]),
        )
        for f in page["features"]
    ]
    return [r for r in found if status is None or r.status == status]


@router.get("/requests.json", response_model=list[ServiceRequest])
def requests(
    session: SessionDep,
    settings: SettingsDep,
    who: PrincipalDep,
    service_request_id: Annotated[str | None, Query(description="comma-separated ids")] = None,
    service_code: str | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
) -> list[ServiceRequest] | JSONResponse:
    limit = min(MAX_REQUESTS, settings.page_limit_max)  # Open311 has no paging: the newest ones
    return _answer(
        session, lambda: _list(session, who, service_request_id, service_code, start_date, end_date, status, limit)
    )


@router.get("/requests/{request_id}.json", response_model=list[ServiceRequest])
def request_by_id(request_id: int, session: SessionDep, who: PrincipalDep) -> list[ServiceRequest] | JSONResponse:
    return _answer(session, lambda: [_one(session, who, request_id)])


def _create(session: Session, settings: Settings, fields: dict[str, str], actor: str) -> list[ServiceRequestCreated]:
    check_field_lengths(fields)
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
    return [
        ServiceRequestCreated(
            service_request_id=str(incident["id"]), service_notice=incident["department"], account_id=None
        )
    ]


def _json_fields(body: dict[str, Any]) -> dict[str, str]:
    """A JSON body as the form's fields: `"attribute": {"code": value}` becomes `attribute[code]`, as in a form."""
    fields = {k: str(v) for k, v in body.items() if not (k == "attribute" and isinstance(v, dict))}
    attributes = body.get("attribute")
    if isinstance(attributes, dict):
        fields |= {f"attribute[{k}]": str(v) for k, v in attributes.items()}
    return fields


@router.post("/requests.json", status_code=201, response_model=list[ServiceRequestCreated])
async def create_request(
    request: Request, session: SessionDep, settings: SettingsDep, who: PrincipalDep
) -> list[ServiceRequestCreated] | JSONResponse:
    """POST as the spec says (form-encoded), or as a JSON object with the same fields."""
    raw = await request.body()
    try:
        if is_json(request.headers.get("content-type")):
            fields = _json_fields(load_json(raw or b"{}"))
        else:
            fields = {k: v[0] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=False).items()}
    except (ValueError, UnicodeDecodeError, AttributeError):
        return _errors(400, "the body is neither form-encoded fields nor a JSON object")
    # Anonymous, as the spec has it; an integration with an API token is named in the history instead.
    actor = who.name if who.authenticated else "open311"
    return await run_in_threadpool(_answer, session, lambda: _create(session, settings, fields, actor))
