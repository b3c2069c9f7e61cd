"""The grid worker's phone app: the page (/field), its service worker (/field/sw.js) and its manifest."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from api.deps import ReadSessionDep, SettingsDep
from api.routers.pages import BasemapQ, Lang, html_page, page_basemap
from gis.layers.extent import data_center
from maps import field_page

router = APIRouter(tags=["maps"])

SERVICE_WORKER = field_page.SERVICE_WORKER_FILE


@router.get("/field", response_class=HTMLResponse, summary="the grid worker's phone app (PWA)")
def field(
    request: Request, session: ReadSessionDep, settings: SettingsDep, lang: Lang = "zh", basemap: BasemapQ = None
) -> HTMLResponse:
    base = page_basemap(request, settings, basemap)
    return html_page(request, field_page.field_page(data_center(session), base=base, lang=lang))


@router.get("/field/sw.js", include_in_schema=False)
def service_worker() -> Response:
    # Served under /field so its scope may cover the page /field (no trailing slash): Service-Worker-Allowed lifts
    # the default scope (/field/) to /field. no-cache: browsers check for a new worker on every start anyway.
    return Response(
        SERVICE_WORKER.read_bytes(),
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": "/field", "Cache-Control": "no-cache"},
    )


@router.get("/field/manifest.webmanifest", include_in_schema=False)
def manifest(lang: Lang = "zh") -> Response:
    return Response(field_page.manifest(lang), media_type="application/manifest+json")
