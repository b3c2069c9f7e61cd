"""Whole layers and plans as files: GET /api/{layer}/download and GET /api/plans/{id}/download.

Each layer gets its own literal path, so `/api/grids/download` never reaches a `/api/grids/{feature_id}`
route; app.py includes this router before the layer and incident routers, whose `{id}` would match first.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from api.deps import AsOf, ReadSessionDep
from api.media_types import DOWNLOADS
from gis.exchange import downloads
from gis.layers.catalog import LAYERS, Layer

router = APIRouter(tags=["downloads"])

FormatParam = Annotated[
    str, Query(alias="format", description=f"one of: {', '.join(downloads.FORMATS)} (shp comes zipped)")
]
PlanParam = Annotated[int | None, Query(description="grid plan id (default: the published plan)")]
CrsParam = Annotated[
    str | None,
    Query(
        description="coordinate system of the file: wgs84 (default, EPSG:4326), cgcs2000 (EPSG:4490), gcj02 "
        "(AMap/Tencent; the file declares no CRS), bd09 (Baidu; likewise) or EPSG:<code> of a 2D geographic or "
        "projected system (e.g. EPSG:4549); anything else is a 422 problem naming `crs`",
        openapi_examples={
            "wgs84": {"summary": "as stored", "value": "wgs84"},
            "gcj02": {"summary": "to lay over AMap or Tencent basemaps", "value": "gcj02"},
            "gauss-kruger": {"summary": "CGCS2000 Gauss-Krüger, central meridian 120°E", "value": "EPSG:4549"},
        },
    ),
]
FILES: dict[int | str, dict[str, Any]] = {
    200: {"content": {DOWNLOADS[name]: {} for name in downloads.FORMATS}, "description": "the file"}
}


def _send(download: downloads.Download) -> FileResponse:
    # The temporary directory goes once the file has been sent.
    return FileResponse(
        download.path,
        media_type=DOWNLOADS[download.format],
        filename=download.filename,
        background=BackgroundTask(download.remove),
    )


def _register(layer: Layer) -> None:
    path = f"/api/{layer.name}/download"
    options: dict[str, Any] = {
        "summary": f"download {layer.title_zh} ({layer.name}), public fields only",
        "response_class": FileResponse,
        "responses": FILES,
        "name": f"download_{layer.name}",
    }
    if layer.plan_scoped:

        @router.get(path, **options)
        def plan_layer(
            session: ReadSessionDep,
            fmt: FormatParam = "gpkg",
            plan: PlanParam = None,
            crs: CrsParam = None,
            as_of: AsOf = None,
        ) -> FileResponse:
            return _send(downloads.download(session, layer.name, fmt, plan_id=plan, crs=crs, as_of=as_of))

        return

    @router.get(path, **options)
    def layer_file(
        session: ReadSessionDep, fmt: FormatParam = "gpkg", crs: CrsParam = None, as_of: AsOf = None
    ) -> FileResponse:
        return _send(downloads.download(session, layer.name, fmt, crs=crs, as_of=as_of))


for _layer in LAYERS.values():
    _register(_layer)


@router.get(
    "/api/plans/{plan_id}/download",
    summary="download one plan's grids",
    response_class=FileResponse,
    responses=FILES,
)
def plan_file(session: ReadSessionDep, plan_id: int, fmt: FormatParam = "gpkg", crs: CrsParam = None) -> FileResponse:
    return _send(downloads.download(session, "grids", fmt, plan_id=plan_id, crs=crs))
