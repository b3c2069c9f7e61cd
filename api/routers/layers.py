"""One router factory for the read-only GeoJSON layers: adding a layer is one declaration."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import BBoxDep, Offset, SessionDep, SettingsDep
from gis import features
from gis.layers import Layer, get_layer

GEOJSON = "application/geo+json"
READ_LAYERS = ("districts", "streets", "communities", "grids", "buildings", "facilities", "network")


class LayerRouter:
    """GET /api/{layer} (a page of features) and GET /api/{layer}/{id} for one layer."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer
        self.router = APIRouter(prefix=f"/api/{layer.name}", tags=["layers"])
        self._register()

    def _register(self) -> None:
        layer = self.layer

        @self.router.get("", summary=f"{layer.title_zh} ({layer.name}) as a GeoJSON FeatureCollection")
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

        @self.router.get("/{feature_id}", summary=f"one {layer.name} feature")
        def item(session: SessionDep, feature_id: Annotated[int, Path(ge=1)]) -> dict[str, Any]:
            return features.feature(session, layer, feature_id)


def routers() -> list[APIRouter]:
    return [LayerRouter(get_layer(name)).router for name in READ_LAYERS]
