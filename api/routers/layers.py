"""One router factory for the read-only GeoJSON layers: every catalog layer with `read_api` gets its routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import BBoxDep, Offset, SessionDep, SettingsDep
from api.schemas.layers import feature_collection_model, feature_model
from gis.layers import features
from gis.layers.catalog import LAYERS, Layer


class LayerRouter:
    """GET /api/{layer} (a page of features) and GET /api/{layer}/{id} for one layer."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer
        self.router = APIRouter(prefix=f"/api/{layer.name}", tags=["layers"])
        self._register()

    def _register(self) -> None:
        layer = self.layer

        @self.router.get(
            "",
            response_model=feature_collection_model(layer),
            summary=f"{layer.title_zh} ({layer.name}) as a GeoJSON FeatureCollection",
        )
        def collection(
            session: SessionDep,
            settings: SettingsDep,
            bbox: BBoxDep,
            offset: Offset = 0,
            limit: Annotated[int | None, Query(ge=1, description="features per page")] = None,
            plan: Annotated[int | None, Query(description="grid plan id (grids only; default: current)")] = None,
        ) -> dict[str, Any]:
            page = min(limit or settings.page_limit_default, settings.page_limit_max)
            return features.feature_collection(session, layer, bbox=bbox, limit=page, offset=offset, plan_id=plan)

        @self.router.get("/{feature_id}", response_model=feature_model(layer), summary=f"one {layer.name} feature")
        def item(session: SessionDep, feature_id: Annotated[int, Path(ge=1)]) -> dict[str, Any]:
            return features.feature(session, layer, feature_id)


def routers() -> list[APIRouter]:
    return [LayerRouter(layer).router for layer in LAYERS.values() if layer.read_api]
