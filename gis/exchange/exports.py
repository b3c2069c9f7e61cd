"""Exporting layers to files: every stored field plus parent codes, so an export imports again.

A layer leaves in WGS 84 (EPSG:4326, as stored) unless another coordinate system is asked for: cgcs2000
(EPSG:4490), gcj02 (AMap/Tencent basemaps) or bd09 (Baidu) by the published forward formulas, or any 2D
geographic or projected EPSG:n (e.g. EPSG:4549, the CGCS2000 Gauss-Krüger zone at 120°E) through PROJ.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from sqlalchemy import select
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound
from gis.exchange.files import NAMED_CRS, OFFSET_SYSTEMS, format_of, wgs84_to_offset, write_frame
from gis.geo.coordinates import SYSTEMS
from gis.geo.crs import STORAGE_CRS
from gis.layers import queries
from gis.layers.catalog import Audience, get_layer
from gis.plans.store import require_plan

if TYPE_CHECKING:
    import geopandas as gpd

_EPSG = re.compile(r"(?:epsg\s*:\s*)?(\d+)", re.IGNORECASE | re.ASCII)
CRS_CHOICES = ", ".join(SYSTEMS) + " or EPSG:<code> (e.g. EPSG:4549)"


def layer_frame(
    session: Session,
    layer_name: str,
    *,
    plan_id: int | None = None,
    public_only: bool = False,
    as_of: datetime | None = None,
) -> gpd.GeoDataFrame:
    """The whole layer as a GeoDataFrame in EPSG:4326 (grids: one plan, the current one by default).

    `public_only` drops the fields that must not leave on public endpoints (Field.public), e.g. contacts.
    `as_of`: the rows as they were then (versioned layers), or the plan published then (grids).
    """
    import geopandas as gpd

    layer = get_layer(layer_name)
    audience: Audience = "public" if public_only else "staff"
    t = queries.table_of(layer, as_of)
    statement = select(
        *queries.columns(t, layer.file_attributes(audience)), queries.geometry(t, layer).label("geometry")
    )
    if layer.plan_scoped:
        plan = (
            require_plan(session, plan_id, purpose="export")
            if as_of is None
            else queries.plan_for(session, plan_id, as_of)
        )
        if plan is None:
            raise NotFound(f"no plan was published at {as_of:%Y-%m-%d %H:%M}", where="as_of")
        statement = statement.where(queries.in_plan(t, plan))
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
    crs: str | None = None,
    as_of: datetime | None = None,
) -> int:
    """Write the layer to `path` (format from the extension) in `crs` (see `output_system`; default WGS 84);
    returns the number of features. A GCJ-02 or BD-09 file declares no CRS (see files.wgs84_to_offset)."""
    system = output_system(crs)  # first: a wrong name writes nothing
    frame = layer_frame(session, layer_name, plan_id=plan_id, public_only=public_only, as_of=as_of)
    frame = in_system(frame, system)
    if format_of(Path(path)) == "ESRI Shapefile":
        frame = frame.rename(columns=_shapefile_names(layer_name))
    write_frame(frame, path, layer=layer_name)
    return len(frame)


def output_system(crs: str | None) -> str:
    """The coordinate system of an export by one name: "wgs84" (also for None and EPSG:4326), "cgcs2000", "gcj02",
    "bd09" or "EPSG:n" for any other 2D geographic or projected EPSG code; InvalidInput naming `crs` otherwise."""
    if crs is None:
        return "wgs84"
    key = crs.strip().lower()
    if key in SYSTEMS:
        return key
    match = _EPSG.fullmatch(key)
    if match is None:
        raise InvalidInput(f"unknown coordinate system {crs!r}; use one of {CRS_CHOICES}", where="crs")
    code = int(match.group(1))
    try:
        parsed = CRS.from_epsg(code)
    except (CRSError, OverflowError):
        raise InvalidInput(
            f"EPSG:{code} is not a known coordinate system; use one of {CRS_CHOICES}", where="crs"
        ) from None
    if not (parsed.is_geographic or parsed.is_projected) or len(parsed.axis_info) != 2:
        raise InvalidInput(f"EPSG:{code} ({parsed.name}) is not a 2D geographic or projected system", where="crs")
    return "wgs84" if code == STORAGE_CRS.to_epsg() else f"EPSG:{code}"


def in_system(frame: gpd.GeoDataFrame, system: str) -> gpd.GeoDataFrame:
    """A WGS 84 frame in `system` (a name from `output_system`)."""
    if system == "wgs84":
        return frame
    if system in OFFSET_SYSTEMS:
        return wgs84_to_offset(frame, system)
    moved = frame.to_crs(NAMED_CRS.get(system, system))
    if not np.isfinite(shapely.get_coordinates(moved.geometry.to_numpy())).all():
        raise InvalidInput(f"the layer lies outside what {system} ({moved.crs.name}) can express", where="crs")
    return moved


def _shapefile_names(layer_name: str) -> dict[str, str]:
    """Shapefile column names are at most 10 characters: each attribute's declared short name."""
    return {a.name: a.file_name[:10] for a in get_layer(layer_name).file_attributes("staff")}
