"""Map pages and the static assets they load, all served by the app.

Each page is sent with its request's CSP nonce on its inline scripts and styles (api/headers.py), and a
basemap from elsewhere, when one is chosen, is added to the page's img-src.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.deps import ReadSessionDep, SettingsDep
from api.headers import allow, csp_nonce, nonced, tile_source
from gis.layers.extent import data_center
from gis.settings import Settings
from maps import assets
from maps.dispatch_map import dispatch_page
from maps.overview import overview_page
from maps.planner_map import planner_page
from maps.public_map import public_page

router = APIRouter(tags=["maps"])

Lang = Annotated[Literal["zh", "en"], Query(description="page language: Chinese (default) or English")]
BasemapQ = Annotated[
    Literal["none", "osm", "amap", "tencent", "custom"] | None,
    Query(description="basemap; default GRIDMAP_BASEMAP (none)"),
]


def page_basemap(request: Request, settings: Settings, name: str | None) -> assets.Basemap:
    """The page's basemap; its tile server (if not the app) becomes an allowed image source of this page."""
    base = assets.basemap(name or settings.basemap, custom_url=settings.basemap_url, custom_crs=settings.basemap_crs)
    source = tile_source(base.url)
    if source is not None:
        allow(request, "img-src", source)
    return base


def html_page(request: Request, document: str) -> HTMLResponse:
    return HTMLResponse(nonced(document, csp_nonce(request)))


@router.get("/", include_in_schema=False, response_class=HTMLResponse)
@router.get("/maps/", include_in_schema=False, response_class=HTMLResponse)
def index() -> str:
    return (
        "<!doctype html><meta charset='utf-8'><title>gridmap</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"  # phones: no 980 px desktop layout
        "<h1>gridmap 网格化管理</h1><ul>"
        "<li><a href='/maps/public'>公共服务设施地图 public service map</a></li>"
        "<li><a href='/report'>随手拍 report a problem</a></li>"
        "<li><a href='/notice'>公示 public notice</a></li>"
        "<li><a href='/field'>网格员工作台 grid workers' app</a></li>"
        "<li><a href='/maps/planner'>网格规划 planner's grid editor</a></li>"
        "<li><a href='/maps/dispatch'>事件调度 dispatch map</a></li>"
        "<li><a href='/maps/dashboard'>领导驾驶舱 leaders' dashboard</a></li>"
        "<li><a href='/maps/overview'>网格总览 overview map</a></li>"
        "<li><a href='/docs'>API 文档 (OpenAPI)</a></li></ul>"
    )


@router.get("/maps/overview", response_class=HTMLResponse, summary="overview map of communities and grids")
def overview(request: Request, session: ReadSessionDep) -> HTMLResponse:
    return html_page(request, overview_page(data_center(session)))


@router.get("/maps/public", response_class=HTMLResponse, summary="public service-facility map (生活圈)")
def public(
    request: Request, session: ReadSessionDep, settings: SettingsDep, lang: Lang = "zh", basemap: BasemapQ = None
) -> HTMLResponse:
    base = page_basemap(request, settings, basemap)
    return html_page(request, public_page(data_center(session), base=base, lang=lang))


@router.get("/maps/planner", response_class=HTMLResponse, summary="planner's grid editor")
def planner(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    plan: Annotated[int | None, Query(description="plan id; default: the current plan")] = None,
    lang: Lang = "zh",
    basemap: BasemapQ = None,
) -> HTMLResponse:
    base = page_basemap(request, settings, basemap)
    return html_page(request, planner_page(data_center(session), plan_id=plan, base=base, lang=lang))


@router.get("/maps/dispatch", response_class=HTMLResponse, summary="dispatch map of incidents")
def dispatch(
    request: Request, session: ReadSessionDep, settings: SettingsDep, lang: Lang = "zh", basemap: BasemapQ = None
) -> HTMLResponse:
    base = page_basemap(request, settings, basemap)
    return html_page(request, dispatch_page(data_center(session), base=base, lang=lang))


def mount(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(f"{assets.STATIC_URL}/gridmap", StaticFiles(directory=assets.OWN_ASSETS / "gridmap"), name="gridmap")
    for name, path in assets.VENDOR.items():
        # check_dir=False: a checkout without `make setup` still starts; the page then says what is missing.
        app.mount(f"{assets.STATIC_URL}/vendor/{name}", StaticFiles(directory=path, check_dir=False), name=name)
