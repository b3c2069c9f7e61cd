"""Downloads: a whole layer, or one plan's grids, written to a temporary file in the format asked for.

Downloads are served to anyone (there is no sign-in yet), so they carry only each layer's public
fields (Field.public): an incident's reporter_contact never leaves this way. Writing goes through
gis.exchange.exports, so a download is the same file `gridmap export` makes, minus the private fields.
The HTTP side (media types, the response) is api/: here a format is a name and a file extension.
A file in another coordinate system than WGS 84 says so in its name: gridmap-buildings-gcj02.gpkg.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound
from gis.exchange.exports import export_layer, output_system
from gis.layers import queries
from gis.layers.catalog import get_layer
from gis.plans.store import require_plan

# Format name → file extension, which also picks the writer in gis.exchange.files.
FORMATS: dict[str, str] = {
    "gpkg": ".gpkg",
    "shp": ".zip",  # .shp/.shx/.dbf/.prj/.cpg, attributes in UTF-8
    "geojson": ".geojson",
    "csv": ".csv",  # UTF-8 with BOM; points as lon/lat, other shapes as WKT
}


class Download(NamedTuple):
    path: Path
    format: str  # a key of FORMATS
    filename: str

    def remove(self) -> None:
        """Delete the temporary directory holding the file (once it has been sent)."""
        shutil.rmtree(self.path.parent, ignore_errors=True)


def download(
    session: Session,
    layer_name: str,
    format: str,
    *,
    plan_id: int | None = None,
    crs: str | None = None,
    as_of: datetime | None = None,
) -> Download:
    """Write the layer's public fields in `format` (a key of FORMATS) to a new temporary directory.

    Grids come from one plan: `plan_id`, or the published plan. `crs` is a name of exports.output_system (default
    WGS 84). The caller calls `remove()` when done.
    """
    chosen = format.lower()
    if chosen not in FORMATS:
        raise InvalidInput(f"format {format!r} is not offered; use one of {', '.join(FORMATS)}", where="format")
    system = output_system(crs)
    layer = get_layer(layer_name)
    stem = f"gridmap-{layer.name}"
    if layer.plan_scoped:
        # First: the file name says which plan it holds.
        plan_id = (
            require_plan(session, plan_id, purpose="export") if as_of is None else _plan_then(session, plan_id, as_of)
        )
        stem += f"-plan{plan_id}"
    if as_of is not None:
        stem += f"-{as_of:%Y%m%d}"
    if system != "wgs84":
        stem += "-" + system.lower().replace(":", "")  # gridmap-buildings-gcj02, gridmap-grids-plan3-epsg4549
    directory = Path(tempfile.mkdtemp(prefix="gridmap-download-"))
    path = directory / f"{stem}{FORMATS[chosen]}"
    try:
        export_layer(session, layer.name, path, plan_id=plan_id, public_only=True, crs=system, as_of=as_of)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return Download(path, chosen, path.name)


def _plan_then(session: Session, plan_id: int | None, as_of: datetime) -> int:
    plan = queries.plan_for(session, plan_id, as_of)
    if plan is None:
        raise NotFound(f"no plan was published at {as_of:%Y-%m-%d %H:%M}", where="as_of")
    return plan
