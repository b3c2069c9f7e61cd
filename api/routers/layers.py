"""One router factory for the read-only GeoJSON layers: every catalog layer with `read_api` gets its routes, now or
`as_of` an instant, and buildings and facilities their version history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from api.deps import AsOf, BBoxDep, Offset, PrincipalDep, ReadSessionDep, SettingsDep
from api.schemas.layers import feature_collection_model, feature_model, history_model
from gis.layers import features
from gis.layers.catalog import LAYERS, Layer

HISTORY_ROUTES = ("buildings", "facilities")  # /api/{layer}/{id}/history


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
            session: ReadSessionDep,
            settings: SettingsDep,
            bbox: BBoxDep,
            offset: Offset = 0,
            limit: Annotated[int | None, Query(ge=1, description="features per page")] = None,
            plan: Annotated[int | None, Query(description="grid plan id (grids only; default: current)")] = None,
            as_of: AsOf = None,
        ) -> dict[str, Any]:
            page = min(limit or settings.page_limit_default, settings.page_limit_max)
            return features.feature_collection(
                session, layer, bbox=bbox, limit=page, offset=offset, plan_id=plan, as_of=as_of
            )

        @self.router.get("/{feature_id}", response_model=feature_model(layer), summary=f"one {layer.name} feature")
        def item(session: ReadSessionDep, feature_id: Annotated[int, Path(ge=1)], as_of: AsOf = None) -> dict[str, Any]:
            return features.feature(session, layer, feature_id, as_of)

        if layer.name in HISTORY_ROUTES:
            self._register_history()

    def _register_history(self) -> None:
        layer = self.layer
        public, staff = history_model(layer, staff=False), history_model(layer, staff=True)

        @self.router.get(
            "/{feature_id}/history",
            response_model=public | staff,
            response_model_exclude_unset=True,  # geometry only when asked for
            summary=f"every version of one {layer.name} feature, oldest first (also once retired)",
            description="Signed-in staff also see who ran each batch; the public sees when, what kind and the source.",
        )
        def history(
            session: ReadSessionDep,
            who: PrincipalDep,
            feature_id: Annotated[int, Path(ge=1)],
            geometry: Annotated[bool, Query(description="add each version's GeoJSON geometry")] = False,
        ) -> BaseModel:
            versions = features.feature_history(session, layer, feature_id, geometry=geometry)
            return (staff if who.authenticated else public).model_validate(versions)


def routers() -> list[APIRouter]:
    return [LayerRouter(layer).router for layer in LAYERS.values() if layer.read_api]
