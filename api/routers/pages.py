"""Map pages and the static assets they load, all served by the app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.deps import SessionDep
from gis.extent import data_center
from maps import assets
from maps.overview import overview_page

router = APIRouter(tags=["maps"])


@router.get("/", include_in_schema=False, response_class=HTMLResponse)
@router.get("/maps/", include_in_schema=False, response_class=HTMLResponse)
def index() -> str:
    return (
        "<!doctype html><meta charset='utf-8'><title>gridmap</title>"
        "<h1>gridmap 网格化管理</h1><ul>"
        "<li><a href='/maps/overview'>网格总览 overview map</a></li>"
        "<li><a href='/docs'>API 文档 (OpenAPI)</a></li>"
        "<li><a href='/api/communities'>/api/communities</a></li></ul>"
    )


@router.get("/maps/overview", response_class=HTMLResponse, summary="overview map of communities and grids")
def overview(session: SessionDep) -> str:
    return overview_page(data_center(session))


def mount(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(f"{assets.STATIC_URL}/gridmap", StaticFiles(directory=assets.OWN_ASSETS / "gridmap"), name="gridmap")
    for name, path in assets.VENDOR.items():
        # check_dir=False: a checkout without `make setup` still starts; the page then says what is missing.
        app.mount(f"{assets.STATIC_URL}/vendor/{name}", StaticFiles(directory=path, check_dir=False), name=name)
