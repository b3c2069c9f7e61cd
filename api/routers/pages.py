"""Map pages and the static assets they load, all served by the app."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.deps import SessionDep, SettingsDep
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


def _basemap(settings: Settings, name: str | None) -> assets.Basemap:
    return assets.basemap(name or settings.basemap, custom_url=settings.basemap_url, custom_crs=settings.basemap_crs)


@router.get("/", include_in_schema=False, response_class=HTMLResponse)
@router.get("/maps/", include_in_schema=False, response_class=HTMLResponse)
def index() -> str:
    return (
        "<!doctype html><meta charset='utf-8'><title>gridmap</title>"
        "<h1>gridmap 网格化管理</h1><ul>"
        "<li><a href='/maps/public'>公共服务设施地图 public service map</a></li>"
        "<li><a href='/maps/planner'>网格规划 planner's grid editor</a></li>"
        "<li><a href='/maps/dispatch'>事件调度 dispatch map</a></li>"
        "<li><a href='/maps/overview'>网格总览 overview map</a></li>"
        "<li><a href='/docs'>API 文档 (OpenAPI)</a></li></ul>"
    )


@router.get("/maps/overview", response_class=HTMLResponse, summary="overview map of communities and grids")
def overview(session: SessionDep) -> str:
    return overview_page(data_center(session))


@router.get("/maps/public", response_class=HTMLResponse, summary="public service-facility map (生活圈)")
def public(session: SessionDep, settings: SettingsDep, lang: Lang = "zh", basemap: BasemapQ = None) -> str:
    return public_page(data_center(session), base=_basemap(settings, basemap), lang=lang)


@router.get("/maps/planner", response_class=HTMLResponse, summary="planner's grid editor")
def planner(
    session: SessionDep,
    settings: SettingsDep,
    plan: Annotated[int | None, Query(description="plan id; default: the current plan")] = None,
    lang: Lang = "zh",
    basemap: BasemapQ = None,
) -> str:
    return planner_page(data_center(session), plan_id=plan, base=_basemap(settings, basemap), lang=lang)


@router.get("/maps/dispatch", response_class=HTMLResponse, summary="dispatch map of incidents")
def dispatch(session: SessionDep, settings: SettingsDep, lang: Lang = "zh", basemap: BasemapQ = None) -> str:
    return dispatch_page(data_center(session), base=_basemap(settings, basemap), lang=lang)


def mount(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(f"{assets.STATIC_URL}/gridmap", StaticFiles(directory=assets.OWN_ASSETS / "gridmap"), name="gridmap")
    for name, path in assets.VENDOR.items():
        # check_dir=False: a checkout without `make setup` still starts; the page then says what is missing.
        app.mount(f"{assets.STATIC_URL}/vendor/{name}", StaticFiles(directory=path, check_dir=False), name=name)
