"""Exporting layers to files: every stored field plus parent codes, so an export imports again."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from gis.exchange.files import format_of, write_frame
from gis.geo.crs import STORAGE_CRS
from gis.layers import queries
from gis.layers.catalog import Audience, get_layer
from gis.plans.store import require_plan

if TYPE_CHECKING:
    import geopandas as gpd


def layer_frame(
    session: Session, layer_name: str, *, plan_id: int | None = None, public_only: bool = False
) -> gpd.GeoDataFrame:
    """The whole layer as a GeoDataFrame in EPSG:4326 (grids: one plan, the current one by default).

    `public_only` drops the fields that must not leave on public endpoints (Field.public), e.g. contacts.
    """
    import geopandas as gpd

    layer = get_layer(layer_name)
    audience: Audience = "public" if public_only else "staff"
    t = queries.table_of(layer)
    statement = select(
        *queries.columns(t, layer.file_attributes(audience)), queries.geometry(t, layer).label("geometry")
    )
    if layer.plan_scoped:
        statement = statement.where(queries.in_plan(t, require_plan(session, plan_id, purpose="export")))
    frame = gpd.read_postgis(statement.order_by(t.c.id), session.connection(), geom_col="geometry")
    frame = frame.set_crs(STORAGE_CRS, allow_override=True)  # an empty result has none, yet its file needs one
    for f in layer.fields:
        if f.type == "int" and f.name in frame:
            frame[f.name] = frame[f.name].astype("Int64")  # nullable integers, not floats
    return frame


def export_layer(
    session: Session,
    layer_name: str,
    path: str | Path,
    *,
    plan_id: int | None = None,
    public_only: bool = False,
) -> int:
    """Write the layer to `path` (format from the extension); returns the number of features."""
    frame = layer_frame(session, layer_name, plan_id=plan_id, public_only=public_only)
    if format_of(Path(path)) == "ESRI Shapefile":
        frame = frame.rename(columns=_shapefile_names(layer_name))
    write_frame(frame, path, layer=layer_name)
    return len(frame)


def _shapefile_names(layer_name: str) -> dict[str, str]:
    """Shapefile column names are at most 10 characters: each attribute's declared short name."""
    return {a.name: a.file_name[:10] for a in get_layer(layer_name).file_attributes("staff")}
