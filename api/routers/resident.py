"""Residents' pages and their public APIs: report (/report), follow a report by its tracking number
(/report/{number}, /api/track/{number}), the public notice (/notice, /api/notice) and place search (/api/search).

Reports themselves go to POST /api/incidents, whose answer carries the tracking number.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from api.deps import ReadSessionDep, SessionDep, SettingsDep
from api.routers.pages import BasemapQ, Lang, html_page, page_basemap
from api.schemas.resident import Evaluated, Evaluation, Notice, PlaceResults, TrackedReport
from gis.errors import NotFound
from gis.incidents import evaluation
from gis.incidents.notice import DEFAULT_DAYS, DEFAULT_MONTHS, notice
from gis.incidents.tracking import incident_of, public_status
from gis.layers.extent import data_center
from gis.layers.search import MAX_LIMIT, MAX_QUERY, search_places
from maps.notice_page import notice_page
from maps.report_page import report_page, tracking_missing_page, tracking_page

router = APIRouter(tags=["residents"])

# Whoever holds a tracking number may read its status: not for shared caches (they would serve it to anyone asking
# the same URL, and keep it after it changed).
PRIVATE = "private, no-store"


@router.get("/api/track/{tracking_number}", summary="a report's public status by its tracking number")
def track(tracking_number: str, session: ReadSessionDep, response: Response) -> TrackedReport:
    response.headers["Cache-Control"] = PRIVATE
    return TrackedReport.model_validate(public_status(session, tracking_number))


@router.post(
    "/api/track/{tracking_number}/evaluation",
    summary="the reporter rates the handling of a closed report (评价), once",
)
def evaluate(tracking_number: str, body: Evaluation, session: SessionDep, response: Response) -> Evaluated:
    response.headers["Cache-Control"] = PRIVATE
    incident_id = incident_of(session, tracking_number)
    done = evaluation.evaluate(
        session, incident_id, rating=body.rating, comment=body.comment, by="reporter", actor="public"
    )
    return Evaluated(rating=done["rating"], at=done["at"])


@router.get("/api/notice", summary="public notice: recently closed incidents per community, monthly counts")
def get_notice(
    session: ReadSessionDep,
    days: Annotated[int, Query(ge=1, le=366, description="closed incidents of this many last days")] = DEFAULT_DAYS,
    months: Annotated[int, Query(ge=1, le=36, description="monthly counts of this many last months")] = DEFAULT_MONTHS,
) -> Notice:
    return Notice.model_validate(notice(session, days=days, months=months))


@router.get("/api/search", summary="buildings, compounds and facilities by (part of) their name")
def search(
    session: ReadSessionDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY, description="part of a name or address")],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
) -> PlaceResults:
    return PlaceResults.model_validate(search_places(session, q, limit=limit))


@router.get("/report", response_class=HTMLResponse, summary="residents' report page (随手拍)")
def report(
    request: Request, session: ReadSessionDep, settings: SettingsDep, lang: Lang = "zh", basemap: BasemapQ = None
) -> HTMLResponse:
    base = page_basemap(request, settings, basemap)
    return html_page(request, report_page(data_center(session), base=base, lang=lang))


@router.get(
    "/report/{tracking_number}",
    response_class=HTMLResponse,
    summary="a report's status page",
    responses={404: {"description": "no report has that number: a page saying so", "content": {"text/html": {}}}},
)
def tracking(request: Request, tracking_number: str, session: ReadSessionDep, lang: Lang = "zh") -> HTMLResponse:
    try:
        view = public_status(session, tracking_number)
    except NotFound:
        page = html_page(request, tracking_missing_page(tracking_number, lang=lang))
        page.status_code = 404
        return page
    page = html_page(request, tracking_page(view, lang=lang))
    page.headers["Cache-Control"] = PRIVATE
    return page


@router.get("/notice", response_class=HTMLResponse, summary="public notice page (公示)")
def notice_html(request: Request, session: ReadSessionDep, lang: Lang = "zh") -> HTMLResponse:
    return html_page(request, notice_page(notice(session), lang=lang))
