"""Reading and writing vector files: GeoJSON, GeoPackage, Shapefile (folder or .zip) and CSV.

Format comes from the extension. Reading returns a GeoDataFrame in the file's CRS (or the one given);
a file with neither is refused. CSV carries geometry as lon/lat columns or a WKT column, and never a CRS;
it is written as UTF-8 with a byte-order mark, which Excel needs to read Chinese text. Text cells a spreadsheet
would run as a formula (starting with = + - @, tab or carriage return) are written behind a single quote, which
Excel shows as text (OWASP CSV injection); the reader takes that quote off again, so an export imports as it was.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pandas.api.types import is_numeric_dtype
from pyproj import CRS

from gis.errors import FileRejected
from gis.geo.crs import parse_crs

FORMATS = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GPKG",
    ".shp": "ESRI Shapefile",
    ".zip": "ESRI Shapefile",
    ".csv": "CSV",
}

LON_COLUMNS = ("lon", "lng", "longitude", "x", "经度")
LAT_COLUMNS = ("lat", "latitude", "y", "纬度")
WKT_COLUMNS = ("wkt", "geometry", "geom", "the_geom", "几何")
# A text cell starting with one of these is a formula to Excel and LibreOffice (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def format_of(path: Path) -> str:
    if path.is_dir() or path.suffix == "":
        return "ESRI Shapefile"
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise FileRejected(
            f"{path.name}: unsupported file type {path.suffix!r}; use .geojson, .json, .gpkg, .shp, "
            ".zip (Shapefile), .csv, or a folder holding a Shapefile",
            where="path",
        ) from None


# -- reading ---------------------------------------------------------------------------------------


def read_frame(path: str | Path, crs: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector file; `crs` overrides (or supplies) the file's CRS, like ogr2ogr -a_srs."""
    path = Path(path)
    if not path.exists():
        raise FileRejected(f"{path}: no such file or folder", where="path")
    given = parse_crs(crs) if crs else None
    fmt = format_of(path)
    frame = _read_csv(path) if fmt == "CSV" else _read_ogr(_ogr_source(path))
    if given is not None:
        frame = frame.set_crs(given, allow_override=True)
    if frame.crs is None:
        raise FileRejected(
            f"{path.name}: the file declares no coordinate reference system; give one with --crs "
            "(EPSG:4326 for GPS/OSM longitude-latitude, EPSG:4490 for CGCS2000, EPSG:4549 for the "
            "CGCS2000 Gauss-Krüger zone at 120°E, ...)",
            where="crs",
        )
    return frame.reset_index(drop=True)


def _ogr_source(path: Path) -> str:
    if path.is_dir():
        shps = sorted(path.glob("*.shp"))
        if len(shps) != 1:
            raise FileRejected(
                f"{path}: a Shapefile folder must hold exactly one .shp, found {len(shps)}", where="path"
            )
        return str(shps[0])
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                members = [n for n in archive.namelist() if n.lower().endswith(".shp") and not n.startswith("__MACOSX")]
        except zipfile.BadZipFile as exc:
            raise FileRejected(f"{path.name}: not a readable zip archive ({exc})", where="path") from exc
        if len(members) != 1:
            raise FileRejected(f"{path.name}: the zip must hold exactly one .shp, found {len(members)}", where="path")
        return f"/vsizip/{path.resolve()}/{members[0]}"
    return str(path)


def _read_ogr(source: str) -> gpd.GeoDataFrame:
    try:
        return pyogrio.read_dataframe(source, on_invalid="ignore")
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, FieldError, ...
        name = Path(source).name
        raise FileRejected(f"{name}: cannot read the file: {str(exc).splitlines()[0]}", where="path") from exc


def _read_csv(path: Path) -> gpd.GeoDataFrame:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise FileRejected(f"{path.name}: cannot read the CSV: {str(exc).splitlines()[0]}", where="path") from exc
    columns = {c.strip().lower(): c for c in table.columns}
    wkt = next((columns[c] for c in WKT_COLUMNS if c in columns), None)
    lon = next((columns[c] for c in LON_COLUMNS if c in columns), None)
    lat = next((columns[c] for c in LAT_COLUMNS if c in columns), None)
    if wkt is not None:
        text = table.pop(wkt).str.strip().replace("", None)
        geometry = shapely.from_wkt(text.to_numpy(dtype=object), on_invalid="ignore")
    elif lon is not None and lat is not None:
        x = pd.to_numeric(table.pop(lon).str.strip(), errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(table.pop(lat).str.strip(), errors="coerce").to_numpy(dtype=float)
        geometry = shapely.points(x, y)
        geometry[~(np.isfinite(x) & np.isfinite(y))] = None
    else:
        raise FileRejected(
            f"{path.name}: a CSV needs a WKT column ({', '.join(WKT_COLUMNS)}) or lon/lat columns "
            f"({'/'.join(LON_COLUMNS)} and {'/'.join(LAT_COLUMNS)}); found {', '.join(table.columns)}",
            where="columns",
        )
    table = table.apply(lambda column: column.map(unquote_cell)).replace("", None)
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geometry), crs=None)


# -- writing ---------------------------------------------------------------------------------------


def write_frame(frame: gpd.GeoDataFrame, path: str | Path, *, layer: str) -> Path:
    """Write `frame` to `path` in the format its extension names; returns the path written."""
    path = Path(path)
    fmt = format_of(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "CSV":
        _write_csv(frame, path)
    elif fmt == "ESRI Shapefile":
        _write_shapefile(frame, path, layer)
    else:
        if path.exists():
            path.unlink()
        pyogrio.write_dataframe(frame, path, driver=fmt, layer=layer if fmt == "GPKG" else None)
    return path


def _write_csv(frame: gpd.GeoDataFrame, path: Path) -> None:
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    geometry = frame.geometry
    if len(geometry) and (geometry.geom_type == "Point").all():
        table["lon"], table["lat"] = geometry.x.round(9), geometry.y.round(9)
    else:
        table["wkt"] = shapely.to_wkt(geometry.to_numpy(), rounding_precision=9, trim=True)
    text_columns = [c for c in table.columns if c not in ("lon", "lat", "wkt") and not is_numeric_dtype(table[c])]
    for column in text_columns:
        table[column] = table[column].map(quote_cell)
    # With a byte-order mark Excel reads the file as UTF-8 (Chinese names intact); the reader skips it. CRLF rows
    # (RFC 4180) make the writer quote every cell holding a carriage return, which would otherwise start a new row.
    table.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")


def quote_cell(value: object) -> object:
    """A text cell Excel would run as a formula, behind a single quote; numbers and everything else as given."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return _QUOTE + value
    return value


def unquote_cell(value: str) -> str:
    """The reverse of `quote_cell`: a quote in front of a formula start is the writer's (or Excel's text marker)."""
    if value.startswith(_QUOTE) and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


def _write_shapefile(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    if path.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory() as tmp:
            pyogrio.write_dataframe(frame, Path(tmp) / f"{layer}.shp", driver="ESRI Shapefile", encoding="UTF-8")
            if path.exists():
                path.unlink()
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                for part in sorted(Path(tmp).iterdir()):
                    archive.write(part, part.name)
        return
    target = path if path.suffix.lower() == ".shp" else path / f"{layer}.shp"
    target.parent.mkdir(parents=True, exist_ok=True)
    for old in target.parent.glob(f"{target.stem}.*"):  # replace this layer's sidecars, nothing else
        old.unlink()
    pyogrio.write_dataframe(frame, target, driver="ESRI Shapefile", encoding="UTF-8")


def crs_label(crs: CRS | None) -> str:
    if crs is None:
        return "none"
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name
