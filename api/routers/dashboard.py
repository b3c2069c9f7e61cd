"""The leaders' dashboard (领导驾驶舱): its figures (GET /api/dashboard) and its page (/maps/dashboard).

Read-only figures for admins, leaders and viewers. Incident figures come from gis/incidents/dashboard.py,
coverage by tier from gis/coverage/stats.py (a package above incidents, so the two meet here).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import ReadSessionDep, SettingsDep, requires
from api.routers.pages import BasemapQ, Lang, html_page, page_basemap
from api.schemas.dashboard import Dashboard
from gis.auth import access
from gis.auth.users import Principal
from gis.coverage import stats as coverage_stats
from gis.incidents import dashboard as figures
from gis.layers.extent import data_center
from maps.dashboard_page import dashboard_page

router = APIRouter(tags=["dashboard"])

Reader = Annotated[Principal, requires(access.DASHBOARD, "the leaders' dashboard")]


@router.get("/api/dashboard", summary="the leaders' dashboard: incident, grid-load and coverage figures")
def get_dashboard(session: ReadSessionDep, settings: SettingsDep, _: Reader) -> Dashboard:
    found = figures.dashboard(session)
    # Tier-complete shares only: one figure per community and tier, what the chart draws.
    found["coverage"] = coverage_stats.coverage(
        session, level="community", category=coverage_stats.TIER_COMPLETE, speed_mps=settings.walking_speed_mps
    )
    return Dashboard.model_validate(found)


@router.get("/maps/dashboard", response_class=HTMLResponse, summary="the leaders' dashboard (charts and a map)")
def dashboard(
    request: Request, session: ReadSessionDep, settings: SettingsDep, lang: Lang = "zh", basemap: BasemapQ = None
) -> HTMLResponse:
    base = page_basemap(request, settings, basemap)
    return html_page(request, dashboard_page(data_center(session), base=base, lang=lang))
