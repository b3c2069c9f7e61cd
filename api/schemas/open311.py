"""Open311 GeoReport v2 (JSON): services are incident categories, requests are incidents.

Requests have a model per audience like every incident answer: the public gets no description and no photo (both
optional in GeoReport v2); the grid worker of the incident's grid, dispatchers and admins get them. Reporters'
contacts have no field in either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from annotated_types import MaxLen
from pydantic import BaseModel, Field

from api.schemas.common import Timestamp
from api.schemas.incidents import IncidentReport
from gis.errors import InvalidInput
from gis.incidents.privacy import Audience
from gis.incidents.workflow import CLOSED_STATES
from gis.registry import incident_categories


def _longest(field: str) -> int:
    """The longest text `POST /api/incidents` takes in `field`: Open311 fills the same incident, so the same limit."""
    return next(m.max_length for m in IncidentReport.model_fields[field].metadata if isinstance(m, MaxLen))


# A POST's fields (form-encoded or JSON) and their longest values. A field not named here (lat, long, the ids,
# `attribute[code]` values) is short text: the contact's limit. Without limits an anonymous 10 MB description
# was stored, and lists of incidents grew with it.
FIELD_LIMITS: Mapping[str, int] = {
    "service_code": _longest("category"),
    "description": _longest("description"),
    "address_string": _longest("address"),
    "media_url": _longest("photo_url"),
    **dict.fromkeys(("email", "phone", "first_name", "last_name"), _longest("reporter_contact")),
}
OTHER_FIELD_LIMIT = _longest("reporter_contact")


def check_field_lengths(fields: Mapping[str, str]) -> None:
    """InvalidInput naming the first field longer than its limit; checked before anything is written."""
    for name, value in fields.items():
        longest = FIELD_LIMITS.get(name, OTHER_FIELD_LIMIT)
        if len(value) > longest:
            raise InvalidInput(f"at most {longest} characters ({len(value)} sent)", where=name)


class Endpoint(BaseModel):
    specification: str
    url: str
    changeset: str
    type: Literal["production", "test"]
    formats: list[str]


class Discovery(BaseModel):
    changeset: str
    contact: str
    key_service: str | None
    endpoints: list[Endpoint]


class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool = Field(description="false: no extra attributes to send")
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str
    group: str | None = Field(description="the department that handles it")


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[dict[str, Any]] = Field(description="none: every service takes the standard fields only")


class ServiceRequestPublic(BaseModel):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str = Field(description="the internal status")
    service_name: str
    service_code: str
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: Timestamp
    updated_datetime: Timestamp
    expected_datetime: Timestamp | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float
    long: float


class ServiceRequestStaff(ServiceRequestPublic):
    description: str | None
    media_url: str | None


ServiceRequest = ServiceRequestPublic | ServiceRequestStaff


def service_request(incident: dict[str, Any], audience: Audience) -> ServiceRequest:
    """An incident (from gis.incidents.records, with lon and lat) as a GeoReport request for `audience`."""
    category = incident_categories().get(incident["category"])
    request = {
        "service_request_id": str(incident["id"]),
        "status": "closed" if incident["status"] in CLOSED_STATES else "open",
        "status_notes": incident["status"],
        "service_name": category.name_zh if category else incident["category"],
        "service_code": incident["category"],
        "description": incident.get("description"),
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
    model = ServiceRequestPublic if audience is Audience.PUBLIC else ServiceRequestStaff
    return model.model_validate(request)


class ServiceRequestCreated(BaseModel):
    service_request_id: str
    service_notice: str | None
    account_id: str | None
