"""Reading and writing vector files: GeoJSON, GeoPackage, Shapefile (folder or .zip), CSV, XLSX and DXF (read only).

Format comes from the extension. Reading returns a GeoDataFrame in the file's CRS (or the one given);
a file with neither is refused. CSV and XLSX carry geometry as lon/lat (x/y) columns or a WKT column, and never a
CRS; `book.xlsx#Sheet` reads one sheet (the first by default). CSV is written as UTF-8 with a byte-order mark, which
Excel needs to read Chinese text (and read as UTF-8, or as GB18030 — what Excel saves in Chinese Windows — when it is
not UTF-8). Text cells a spreadsheet would run as a formula (starting with = + - @, tab or carriage return) are written
to CSV behind a single quote, which Excel shows as text (OWASP CSV injection); the reader takes that quote off again,
so an export imports as it was. XLSX stores such text as a string cell, which Excel never runs.
`read_table` reads a .csv or .xlsx attribute table without geometry (register updates by code), every cell as text.

DXF (CAD drawings of compounds and grids) is read through GDAL; it has no CRS, so it needs one given. Closed
polylines become polygons, coordinates are 2D, and the columns kept are the CAD `Layer`, `EntityHandle` (stable
within a drawing: a source id) and `Text` (labels); `drawing.dxf#Layer` reads one CAD layer.

A layer in GCJ-02 (AMap/Tencent/WeChat) or BD-09 (Baidu) is read with crs="gcj02" / "bd09": every vertex is moved
to WGS 84 (gis.geo.china_offsets) and the frame comes back in EPSG:4326; exports write those systems the other way.
"""

from __future__ import annotations

import re
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pandas.api.types import is_numeric_dtype
from pyproj import CRS

from gis.errors import FileRejected
from gis.exchange.point_files import (  # the names stay importable from here (gis.exchange.load uses them)
    FORMULA_STARTS,
    coordinate_columns,
    missing_coordinates,
)
from gis.exchange.point_files import LAT_COLUMNS as LAT_COLUMNS
from gis.exchange.point_files import LON_COLUMNS as LON_COLUMNS
from gis.exchange.point_files import WKT_COLUMNS as WKT_COLUMNS
from gis.geo import china_offsets
from gis.geo.crs import STORAGE_CRS, parse_crs

FORMATS = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GPKG",
    ".shp": "ESRI Shapefile",
    ".zip": "ESRI Shapefile",
    ".csv": "CSV",
    ".xlsx": "XLSX",
    ".dxf": "DXF",
}
TABLES = ("CSV", "XLSX")  # formats of attribute tables (read_table)

# The coordinate column names and the formula starts live with the fast point reader (gis.exchange.point_files).
_QUOTE = "'"
# `book.xlsx#Sheet`, `drawing.dxf#Layer`: the first ".xlsx#" / ".dxf#" splits, as sheet and layer names may hold '#'.
_PART = re.compile(r"^(.*?\.(?:xlsx|dxf))#(.+)$", re.IGNORECASE | re.DOTALL)

# The named systems of gis.geo.coordinates.SYSTEMS. GCJ-02 and BD-09 have no EPSG code: layers in them are converted
# vertex by vertex. The others stand for the CRS a file in them declares.
OFFSET_SYSTEMS = ("gcj02", "bd09")
NAMED_CRS = {"wgs84": "EPSG:4326", "cgcs2000": "EPSG:4490"}

DXF_NO_CRS = "DXF files carry no coordinate system: give --crs, e.g. EPSG:4549"
# What a DXF row keeps: the CAD layer (to pick compounds from roads and labels), the entity handle (stable within
# a drawing: a source id) and the text of TEXT/MTEXT entities (a name). GDAL's other fields are CAD bookkeeping.
DXF_COLUMNS = ("Layer", "EntityHandle", "Text")
# AutoCAD 2007 (AC1021) and later write DXF in UTF-8 whatever $DWGCODEPAGE says (ANSI_936 in China); GDAL 3.12
# decodes by $DWGCODEPAGE alone, which garbles Chinese layer names and labels, so such files are opened as UTF-8.
_ACADVER = re.compile(rb"AC(\d{4})")
_UTF8_DXF = 1021

XLSX_MAX_ROWS = 1_048_576  # rows in an Excel sheet, the header included
XLSX_MAX_TEXT = 32_767  # characters in an Excel cell


def format_of(path: Path) -> str:
    if path.is_dir() or path.suffix == "":
        return "ESRI Shapefile"
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise FileRejected(
            f"{path.name}: unsupported file type {path.suffix!r}; use .geojson, .json, .gpkg, .shp, "
            ".zip (Shapefile), .csv, .xlsx, .dxf (CAD; save a .dwg as DXF), or a folder holding a Shapefile",
            where="path",
        ) from None


def split_part(path: Path) -> tuple[Path, str | None]:
    """`book.xlsx#Sheet` → (book.xlsx, "Sheet"); `drawing.dxf#Layer` likewise; any other path (or one that exists
    under its whole name) → (path, None)."""
    match = _PART.match(path.name)
    if match is None or path.exists():
        return path, None
    return path.with_name(match.group(1)), match.group(2)


# -- reading ---------------------------------------------------------------------------------------


def read_frame(path: str | Path, crs: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector file; `crs` overrides (or supplies) the file's CRS, like ogr2ogr -a_srs.

    `crs` is what pyproj reads ("EPSG:4549", "4490", ...) or a named system: wgs84, cgcs2000, or gcj02 / bd09, whose
    coordinates are converted to WGS 84 (the frame comes back in EPSG:4326). `book.xlsx#Sheet` reads one sheet,
    `drawing.dxf#Layer` one CAD layer.
    """
    path, part = split_part(Path(path))
    if not path.exists():
        raise FileRejected(f"{path}: no such file or folder", where="path")
    offset, given = _source_crs(crs)
    fmt = format_of(path)
    if fmt == "DXF" and offset is None and given is None:
        raise FileRejected(f"{path.name}: {DXF_NO_CRS}", where="crs")
    if part is not None and fmt not in ("XLSX", "DXF"):
        raise FileRejected(f"{path.name}: only .xlsx (#sheet) and .dxf (#layer) paths name a part", where="path")
    if fmt == "CSV":
        frame = _geometry_table(_unquoted(_csv_table(path)), path.name, "a CSV")
    elif fmt == "XLSX":
        frame = _geometry_table(_xlsx_table(path, part), path.name, "an XLSX sheet")
    elif fmt == "DXF":
        frame = _read_dxf(path, part)
    else:
        frame = _read_ogr(_ogr_source(path))
    if offset is not None:
        frame = offset_to_wgs84(frame, offset)
    elif given is not None:
        frame = frame.set_crs(given, allow_override=True)
    if frame.crs is None:
        raise FileRejected(
            f"{path.name}: the file declares no coordinate reference system; give one with --crs "
            "(EPSG:4326 for GPS/OSM longitude-latitude, EPSG:4490 for CGCS2000, EPSG:4549 for the "
            "CGCS2000 Gauss-Krüger zone at 120°E, ...)",
            where="crs",
        )
    return frame.reset_index(drop=True)


def read_table(path: str | Path, *, rows: int | None = None) -> pd.DataFrame:
    """An attribute table without geometry (.csv or .xlsx; `book.xlsx#Sheet`), such as register updates
    (`code,households,population_resident,...`): headers as written (Chinese kept, outer spaces trimmed), every cell
    text or None — a code 110101001001 stays "110101001001", never a float — and typing is left to the importer.
    `rows` reads only the first rows (0: the header alone, to look at the columns)."""
    path, part = split_part(Path(path))
    if not path.exists():
        raise FileRejected(f"{path}: no such file", where="path")
    fmt = format_of(path)
    if fmt not in TABLES:
        raise FileRejected(f"{path.name}: an attribute table must be a .csv or .xlsx file", where="path")
    if fmt == "CSV":
        if part is not None:
            raise FileRejected(f"{path.name}: a CSV has no sheets", where="path")
        return _text_or_none(_unquoted(_csv_table(path, rows)))
    return _text_or_none(_xlsx_table(path, part, rows))


def _source_crs(crs: str | None) -> tuple[str | None, CRS | None]:
    """A user-given source CRS: (offset system, None) for gcj02/bd09, else (None, the CRS or None)."""
    if not crs:
        return None, None
    key = crs.strip().lower()
    if key in OFFSET_SYSTEMS:
        return key, None
    return None, parse_crs(NAMED_CRS.get(key, crs))


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


# Formats whose text is UTF-8 by definition are read through Arrow (columnar, about 3× faster on a city's
# buildings); Shapefiles may be GBK (a .cpg, or none), which only the row-by-row reader decodes.
ARROW_SUFFIXES = {".gpkg", ".geojson", ".json", ".fgb", ".parquet", ".geoparquet"}


def _read_ogr(source: str, **open_options: Any) -> gpd.GeoDataFrame:
    arrow = Path(source).suffix.lower() in ARROW_SUFFIXES and not open_options
    try:
        return pyogrio.read_dataframe(source, on_invalid="ignore", use_arrow=arrow, **open_options)
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, FieldError, ...
        name = Path(source).name
        raise FileRejected(f"{name}: cannot read the file: {str(exc).splitlines()[0]}", where="path") from exc


def _csv_table(path: Path, rows: int | None = None) -> pd.DataFrame:
    """Every cell as text ("" when empty). UTF-8 (with or without BOM) first; Excel in Chinese Windows saves
    "CSV" as GBK, which GB18030 (its superset) reads."""
    error: Exception | None = None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding, nrows=rows)
        except UnicodeDecodeError as exc:
            error = error or exc
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            error = exc
            break
        table.columns = [str(c).strip() for c in table.columns]
        return table
    raise FileRejected(f"{path.name}: cannot read the CSV: {str(error).splitlines()[0]}", where="path")


def _unquoted(table: pd.DataFrame) -> pd.DataFrame:
    """CSV cells without the quote `quote_cell` put before formula-like text."""
    return table.apply(lambda column: column.map(unquote_cell))


def _xlsx_table(path: Path, sheet: str | None, rows: int | None = None) -> pd.DataFrame:
    """One sheet (the first by default), every cell as text ("" when empty). Whole numbers stay whole: a code
    typed as a number (110101001001, stored as 1.10101001001E+11) reads "110101001001"."""
    try:
        with pd.ExcelFile(path, engine="openpyxl") as book:
            names = [str(name) for name in book.sheet_names]
            if sheet is not None and sheet not in names:
                raise FileRejected(f"{path.name}: no sheet {sheet!r}; the sheets are {', '.join(names)}", where="path")
            table = pd.read_excel(
                book, sheet_name=sheet if sheet is not None else 0, dtype=str, keep_default_na=False, nrows=rows
            )
    except FileRejected:
        raise
    except Exception as exc:  # openpyxl and zipfile raise many kinds on a damaged or foreign file
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise FileRejected(f"{path.name}: cannot read the workbook: {first}", where="path") from exc
    table = table.fillna("")  # whole-column gaps come back as NaN even as text
    table.columns = [str(c).strip() for c in table.columns]
    # Columns Excel formatted but left empty come with no header ("Unnamed: 5") and no value.
    blank = [c for c in table.columns if c.startswith("Unnamed: ") and not table[c].astype(bool).any()]
    return table.drop(columns=blank)


def _geometry_table(table: pd.DataFrame, name: str, kind: str) -> gpd.GeoDataFrame:
    """Geometry from a WKT column or lon/lat columns of a text table; the other columns as text or None."""
    wkt, lon, lat = coordinate_columns(table.columns)
    if wkt is not None:
        text = table.pop(wkt).str.strip().replace("", None)
        geometry = shapely.from_wkt(text.to_numpy(dtype=object), on_invalid="ignore")
    elif lon is not None and lat is not None:
        x = pd.to_numeric(table.pop(lon).str.strip(), errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(table.pop(lat).str.strip(), errors="coerce").to_numpy(dtype=float)
        geometry = shapely.points(x, y)
        geometry[~(np.isfinite(x) & np.isfinite(y))] = None
    else:
        raise missing_coordinates(name, kind, table.columns)
    return gpd.GeoDataFrame(_text_or_none(table), geometry=gpd.GeoSeries(geometry), crs=None)


def _text_or_none(table: pd.DataFrame) -> pd.DataFrame:
    """Text cells as str, empty ones as None (object columns: pandas' string columns would make None NaN)."""
    table = table.astype(object)
    return table.where(table.notna() & (table != ""), None)


def _read_dxf(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    """Model-space entities of a DXF, 2D, closed polylines as polygons; `layer` keeps one CAD layer."""
    options = {"ENCODING": "UTF-8"} if _dxf_in_utf8(path) else {}
    frame = _read_ogr(str(path), **options)
    if "PaperSpace" in frame:  # layout sheets (title blocks, viewports) are not at map coordinates
        frame = frame[~(pd.to_numeric(frame["PaperSpace"], errors="coerce").fillna(0) != 0)]
    if layer is not None:
        if "Layer" not in frame or not (frame["Layer"] == layer).any():
            found = sorted(frame["Layer"].dropna().unique()) if "Layer" in frame else []
            raise FileRejected(
                f"{path.name}: no entities on CAD layer {layer!r}; the layers are {', '.join(found) or 'none'}",
                where="path",
            )
        frame = frame[frame["Layer"] == layer]
    table = pd.DataFrame({c: frame[c].to_numpy(dtype=object) for c in DXF_COLUMNS if c in frame})
    if "Text" in table and "SubClasses" in frame:  # a hatch's Text is its fill pattern ("SOLID"), not a label
        hatch = frame["SubClasses"].fillna("").str.contains("AcDbHatch").to_numpy()
        table.loc[hatch, "Text"] = None
    table = table.astype(object).where(table.notna(), None)
    geometry = closed_lines_as_polygons(shapely.force_2d(frame.geometry.to_numpy()))
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geometry), crs=None)


def _dxf_in_utf8(path: Path) -> bool:
    """Whether $ACADVER says AutoCAD 2007 or later (the header leads the file, ASCII or binary)."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    at = head.find(b"$ACADVER")
    match = _ACADVER.search(head, at, at + 64) if at >= 0 else None
    return match is not None and int(match.group(1)) >= _UTF8_DXF


def closed_lines_as_polygons(geometry: np.ndarray) -> np.ndarray:
    """Lines whose ends meet, as polygons: CAD draws a compound or grid outline as a closed polyline.

    GDAL's CLOSED_LINE_AS_POLYGON converts only polylines flagged closed; outlines closed by repeating the first
    vertex (and closed LINE chains exported as one polyline) are just as common, so the test is on the coordinates.
    """
    out = geometry.copy()
    lines = shapely.get_type_id(geometry) == shapely.GeometryType.LINESTRING
    ring = np.zeros(len(geometry), dtype=bool)
    ring[lines] = shapely.is_closed(geometry[lines]) & (shapely.get_num_coordinates(geometry[lines]) >= 4)
    out[ring] = shapely.polygons(
        shapely.linearrings(shapely.get_coordinates(geometry[ring]), indices=_owners(geometry[ring]))
    )
    return out


def _owners(geometry: np.ndarray) -> np.ndarray:
    """For each coordinate of `geometry` (in get_coordinates order), the index of its geometry."""
    return np.repeat(np.arange(len(geometry)), shapely.get_num_coordinates(geometry))


# -- GCJ-02 and BD-09 ------------------------------------------------------------------------------


def offset_to_wgs84(frame: gpd.GeoDataFrame, system: str) -> gpd.GeoDataFrame:
    """A layer drawn in GCJ-02 or BD-09 (`system`), every vertex moved to WGS 84: the frame in EPSG:4326.

    Out-of-range coordinates pass unchanged (the offsets are the identity outside China), so the import's
    row checks report them as they would in any WGS 84 file.
    """
    inverse = china_offsets.gcj02_to_wgs84 if system == "gcj02" else china_offsets.bd09_to_wgs84
    return _moved(frame, inverse, STORAGE_CRS)


def wgs84_to_offset(frame: gpd.GeoDataFrame, system: str) -> gpd.GeoDataFrame:
    """A WGS 84 layer with every vertex moved to GCJ-02 or BD-09 (the published forward formulas).

    The frame declares no CRS: neither system has an EPSG code, and labelling it EPSG:4326 would let it be imported
    again hundreds of metres off; a file without one is refused until the importer says `--crs gcj02`.
    """
    forward = china_offsets.wgs84_to_gcj02 if system == "gcj02" else china_offsets.wgs84_to_bd09
    return _moved(frame, forward, None)


def _moved(frame: gpd.GeoDataFrame, convert: Any, crs: CRS | None) -> gpd.GeoDataFrame:
    def vertices(xy: np.ndarray) -> np.ndarray:
        x, y = convert(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    geometry = shapely.transform(frame.geometry.to_numpy(), vertices)  # 2D, as stored
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geometry, index=frame.index), crs=crs)


# -- writing ---------------------------------------------------------------------------------------


def write_frame(frame: gpd.GeoDataFrame, path: str | Path, *, layer: str) -> Path:
    """Write `frame` to `path` in the format its extension names; returns the path written."""
    path = Path(path)
    fmt = format_of(path)
    if fmt == "DXF":
        raise FileRejected(
            f"{path.name}: DXF is read, not written (it would lose the attributes); export to .gpkg, .shp or .geojson",
            where="path",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "CSV":
        _write_csv(frame, path)
    elif fmt == "XLSX":
        _write_xlsx(frame, path, layer)
    elif fmt == "ESRI Shapefile":
        with _no_crs_warning():
            _write_shapefile(frame, path, layer)
    else:
        if path.exists():
            path.unlink()
        with _no_crs_warning():
            pyogrio.write_dataframe(frame, path, driver=fmt, layer=layer if fmt == "GPKG" else None)
    return path


@contextmanager
def _no_crs_warning() -> Iterator[None]:
    """A GCJ-02/BD-09 export declares no CRS on purpose (see wgs84_to_offset): pyogrio need not warn about it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="'crs' was not provided", category=UserWarning)
        yield


def _flat_table(frame: gpd.GeoDataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The attributes plus geometry as columns: points as lon/lat (x/y in a projected CRS), other shapes as WKT;
    with the names of the geometry columns."""
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    geometry = frame.geometry
    if len(geometry) and (geometry.geom_type == "Point").all():
        x, y = ("x", "y") if frame.crs is not None and frame.crs.is_projected else ("lon", "lat")
        table[x], table[y] = geometry.x.round(9), geometry.y.round(9)
        return table, (x, y)
    table["wkt"] = shapely.to_wkt(geometry.to_numpy(), rounding_precision=9, trim=True)
    return table, ("wkt",)


def _write_csv(frame: gpd.GeoDataFrame, path: Path) -> None:
    table, placed = _flat_table(frame)
    text_columns = [c for c in table.columns if c not in placed and not is_numeric_dtype(table[c])]
    for column in text_columns:
        table[column] = table[column].map(quote_cell)
    # With a byte-order mark Excel reads the file as UTF-8 (Chinese names intact); the reader skips it. CRLF rows
    # (RFC 4180) make the writer quote every cell holding a carriage return, which would otherwise start a new row.
    table.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")


def _write_xlsx(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    """One sheet named after the layer, laid out as the CSV; text stays text (no formula runs, no quote added)."""
    from openpyxl import Workbook  # only XLSX exports need it

    table, _ = _flat_table(frame)
    if len(table) + 1 > XLSX_MAX_ROWS:
        raise FileRejected(
            f"{path.name}: {len(table)} rows do not fit an Excel sheet ({XLSX_MAX_ROWS - 1} at most); "
            "export to .gpkg or .csv",
            where="path",
        )
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=layer[:31])
    sheet.append([str(c) for c in table.columns])
    for row in table.itertuples(index=False):
        sheet.append([_xlsx_cell(sheet, value, path) for value in row])
    if path.exists():
        path.unlink()
    book.save(path)


def _xlsx_cell(sheet: Any, value: object, path: Path) -> object:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if value is None or (np.ndim(value) == 0 and not isinstance(value, str) and pd.isna(value)):  # type: ignore[arg-type]
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))  # control characters an XLSX cannot hold
    if len(text) > XLSX_MAX_TEXT:
        raise FileRejected(
            f"{path.name}: a value of {len(text)} characters does not fit an Excel cell ({XLSX_MAX_TEXT} at most; "
            "large polygons as WKT do not); export to .gpkg or .geojson",
            where="path",
        )
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"  # openpyxl makes text starting with "=" a formula: keep it a string
    return cell


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
