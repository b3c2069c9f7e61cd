"""Exporting layers to files: every stored field plus parent codes, so an export imports again."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.crs import STORAGE_CRS
from gis.db import quote_ident
from gis.errors import NotFound
from gis.features import current_plan_id
from gis.io import format_of, write_frame
from gis.layers import get_layer


def layer_frame(
    session: Session, layer_name: str, *, plan_id: int | None = None, public_only: bool = False
) -> gpd.GeoDataFrame:
    """The whole layer as a GeoDataFrame in EPSG:4326 (grids: one plan, the current one by default).

    `public_only` drops the fields that must not leave on public endpoints (Field.public), e.g. contacts.
    """
    layer = get_layer(layer_name)
    hidden = {f.name for f in layer.fields if not f.public} if public_only else set()
    stored = [f for f in layer.fields if f.name not in layer.exported and f.name not in hidden]
    columns = [f"t.{quote_ident(f.name)}" for f in stored]
    columns += [f"{expr} AS {quote_ident(name)}" for name, expr in layer.exported.items() if name not in hidden]
    where, params = "", {}
    if layer.name == "grids":
        where, params = " WHERE t.plan_id = :plan", {"plan": grid_plan(session, plan_id)}
    query = (
        f"SELECT {', '.join(columns)}, t.{quote_ident(layer.geometry_column)} AS geometry "
        f"FROM {quote_ident(layer.table)} t{where} ORDER BY t.id"
    )
    frame = gpd.read_postgis(text(query), session.connection(), geom_col="geometry", params=params)
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
        frame = frame.rename(columns=_shapefile_names(layer_name, frame.columns))
    write_frame(frame, path, layer=layer_name)
    return len(frame)


def grid_plan(session: Session, plan_id: int | None) -> int:
    """The plan whose grids are exported: `plan_id` when it exists, otherwise the published plan."""
    if plan_id is None:
        plan = current_plan_id(session)
        if plan is None:
            raise NotFound("there is no published grid plan to export; import grids first", where="plan")
        return plan
    if session.execute(text("SELECT 1 FROM grid_plans WHERE id = :plan"), {"plan": plan_id}).first() is None:
        raise NotFound(f"plan {plan_id} does not exist", where="plan")
    return plan_id


def _shapefile_names(layer_name: str, columns: object) -> dict[str, str]:
    """Shapefile column names are at most 10 characters: use each field's declared short name."""
    layer = get_layer(layer_name)
    names = {f.name: f.file_name for f in layer.fields}
    names.setdefault("community_code", "comm_code")
    return {c: names.get(c, c[:10]) for c in columns if c != "geometry"}
