"""Whole layers and plans as files: GET /api/{layer}/download and GET /api/plans/{id}/download.

Each layer gets its own literal path, so `/api/grids/download` never reaches a `/api/grids/{feature_id}`
route; app.py includes this router before the layer and incident routers, whose `{id}` would match first.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from api.deps import SessionDep
from api.media_types import DOWNLOADS
from gis.exchange import downloads
from gis.layers.catalog import LAYERS, Layer

router = APIRouter(tags=["downloads"])

FormatParam = Annotated[
    str, Query(alias="format", description=f"one of: {', '.join(downloads.FORMATS)} (shp comes zipped)")
]
PlanParam = Annotated[int | None, Query(description="grid plan id (default: the published plan)")]
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
        def plan_layer(session: SessionDep, fmt: FormatParam = "gpkg", plan: PlanParam = None) -> FileResponse:
            return _send(downloads.download(session, layer.name, fmt, plan_id=plan))

        return

    @router.get(path, **options)
    def layer_file(session: SessionDep, fmt: FormatParam = "gpkg") -> FileResponse:
        return _send(downloads.download(session, layer.name, fmt))


for _layer in LAYERS.values():
    _register(_layer)


@router.get(
    "/api/plans/{plan_id}/download",
    summary="download one plan's grids",
    response_class=FileResponse,
    responses=FILES,
)
def plan_file(session: SessionDep, plan_id: int, fmt: FormatParam = "gpkg") -> FileResponse:
    return _send(downloads.download(session, "grids", fmt, plan_id=plan_id))
