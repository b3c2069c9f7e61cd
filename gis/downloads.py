"""Downloads: a whole layer, or one plan's grids, written to a temporary file in the format asked for.

Downloads are served to anyone (there is no sign-in yet), so they carry only each layer's public
fields (Field.public): an incident's reporter_contact never leaves this way. Writing goes through
gis.exports, so a download is the same file `gridmap export` makes, minus the private fields.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

from sqlalchemy.orm import Session

from gis.errors import InvalidInput
from gis.exports import export_layer, grid_plan
from gis.layers import get_layer


class Format(NamedTuple):
    media_type: str
    extension: str  # also picks the writer in gis.io


FORMATS: dict[str, Format] = {
    "gpkg": Format("application/geopackage+sqlite3", ".gpkg"),
    "shp": Format("application/zip", ".zip"),  # .shp/.shx/.dbf/.prj/.cpg, attributes in UTF-8
    "geojson": Format("application/geo+json", ".geojson"),
    "csv": Format("text/csv", ".csv"),  # UTF-8 with BOM; points as lon/lat, other shapes as WKT
}


class Download(NamedTuple):
    path: Path
    media_type: str
    filename: str

    def remove(self) -> None:
        """Delete the temporary directory holding the file (once it has been sent)."""
        shutil.rmtree(self.path.parent, ignore_errors=True)


def download(session: Session, layer_name: str, format: str, *, plan_id: int | None = None) -> Download:
    """Write the layer's public fields in `format` (a key of FORMATS) to a new temporary directory.

    Grids come from one plan: `plan_id`, or the published plan. The caller calls `remove()` when done.
    """
    chosen = FORMATS.get(format.lower())
    if chosen is None:
        raise InvalidInput(f"format {format!r} is not offered; use one of {', '.join(FORMATS)}", where="format")
    layer = get_layer(layer_name)
    stem = f"gridmap-{layer.name}"
    if layer.name == "grids":
        plan_id = grid_plan(session, plan_id)  # resolved first: the file name says which plan it holds
        stem += f"-plan{plan_id}"
    directory = Path(tempfile.mkdtemp(prefix="gridmap-download-"))
    path = directory / f"{stem}{chosen.extension}"
    try:
        export_layer(session, layer.name, path, plan_id=plan_id, public_only=True)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return Download(path, chosen.media_type, path.name)
