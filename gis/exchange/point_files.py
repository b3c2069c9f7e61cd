"""Point tables in and out at speed: CSV and (Geo)Parquet through Arrow, with no geometry objects on the way.

`gridmap assign` reads millions of points and writes them back with their grid. Through geopandas that is mostly
building and formatting Python objects; here a file is read into Arrow columns, the coordinates come out as numpy
arrays, and the table is written back with the result columns appended. Only numpy and pyarrow load (shapely only
for a WKT column or unusual WKB), which keeps a whole `gridmap assign` process short.

What is read:
- CSV: every column as the file has it, as text (codes such as 007 keep their zeros; empty cells are null), except
  the lon/lat (x/y) columns, found by the names gis.exchange.files uses (`coordinate_columns`, one owner), read as
  numbers. A WKT column of points works too. UTF-8 with or without a byte-order mark, else GB18030 (what Excel saves
  in Chinese Windows), as gis.exchange.files reads CSV.
- Parquet: GeoParquet (geometry column in WKB or the native point encoding, CRS from its metadata), or a plain
  Parquet table with lon/lat columns.

What is written: the input columns as read, then the result columns (a column of the input with a result's name is
replaced). CSV as gis.exchange.files writes it: UTF-8 with a byte-order mark (Excel reads Chinese text), CRLF rows,
text cells that would run as a formula behind a single quote (`quote_cell`; the reader of gis.exchange.files takes
it off again). GeoParquet (1.1, WKB) adds the point geometry in WGS 84 lon/lat (OGC:CRS84) as `geometry`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gis.errors import FileRejected, InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

LON_COLUMNS = ("lon", "lng", "longitude", "x", "经度")
LAT_COLUMNS = ("lat", "latitude", "y", "纬度")
WKT_COLUMNS = ("wkt", "geometry", "geom", "the_geom", "几何")
# A text cell starting with one of these is a formula to Excel and LibreOffice (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_BYTES = np.frombuffer("".join(FORMULA_STARTS).encode(), dtype=np.uint8)

POINT_FORMATS = {".csv": "CSV", ".parquet": "Parquet", ".geoparquet": "Parquet"}
GEOMETRY = "geometry"  # the geometry column GeoParquet output gets
_BOM = b"\xef\xbb\xbf"
_WKB_POINT = np.dtype([("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")])  # 21 bytes, packed


def coordinate_columns(names: Iterable[str]) -> tuple[str | None, str | None, str | None]:
    """The (wkt, lon, lat) columns among `names` (case and outer spaces ignored), each None when absent."""
    columns = {str(c).strip().lower(): c for c in names}
    wkt = next((columns[c] for c in WKT_COLUMNS if c in columns), None)
    lon = next((columns[c] for c in LON_COLUMNS if c in columns), None)
    lat = next((columns[c] for c in LAT_COLUMNS if c in columns), None)
    return wkt, lon, lat


def missing_coordinates(name: str, kind: str, names: Iterable[str]) -> FileRejected:
    """The refusal of a table with neither a WKT column nor lon/lat columns (one wording for every reader)."""
    return FileRejected(
        f"{name}: {kind} needs a WKT column ({', '.join(WKT_COLUMNS)}) or lon/lat columns "
        f"({'/'.join(LON_COLUMNS)} and {'/'.join(LAT_COLUMNS)}); found {', '.join(map(str, names))}",
        where="columns",
    )


def is_point_file(path: str | Path) -> bool:
    """Whether `path` is a CSV or (Geo)Parquet file, which this module reads and writes."""
    return Path(path).suffix.lower() in POINT_FORMATS


@dataclass(frozen=True)
class PointTable:
    table: pa.Table  # the file's columns as read (a GeoParquet geometry column left out)
    x: np.ndarray  # float64 lon or easting, NaN where missing
    y: np.ndarray
    crs: str | None  # the CRS the file declares, as gis.geo.coordinates takes it ("wgs84", "EPSG:4549"); None: none
    coordinates: tuple[str, ...] = ()  # the lon/lat columns of the table (written back unquoted)

    def __len__(self) -> int:
        return self.x.size


def read_points(path: str | Path) -> PointTable:
    """Read a CSV or (Geo)Parquet point table (see the module)."""
    path = Path(path)
    if not path.is_file():
        raise FileRejected(f"{path}: no such file", where="path")
    if POINT_FORMATS.get(path.suffix.lower()) == "CSV":
        return _read_csv(path)
    return _read_parquet(path)


# -- CSV ----------------------------------------------------------------------------------------------


def _read_csv(path: Path) -> PointTable:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    for encoding in ("utf8", "gb18030"):
        read = pcsv.ReadOptions(encoding=encoding, block_size=1 << 22)
        try:
            with pcsv.open_csv(path, read_options=read) as head:  # the header only (Arrow reads one block)
                names = head.schema.names
            wkt, lon, lat = coordinate_columns(names)
            # Every column as text, coordinates too: they are written back as the file has them (formatting a
            # million floats again costs more than parsing them from text).
            convert = pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True)
            table = pcsv.read_csv(path, read_options=read, convert_options=convert)
        except UnicodeError:
            continue
        except pa.ArrowInvalid as exc:
            message = str(exc)
            if "UTF8" in message or "UTF-8" in message:
                continue
            raise FileRejected(f"{path.name}: cannot read the CSV: {_arrow_detail(message)}", where="path") from None
        except (pa.ArrowException, OSError) as exc:
            raise FileRejected(f"{path.name}: cannot read the CSV: {_arrow_detail(str(exc))}", where="path") from None
        break
    else:
        raise FileRejected(f"{path.name}: cannot read the CSV: neither UTF-8 nor GB18030 text", where="path")
    if wkt is not None:
        x, y = _wkt_points(np.array(table.column(wkt).to_pylist(), dtype=object), path.name)
        return PointTable(table, x, y, None)
    if lon is None or lat is None:
        raise missing_coordinates(path.name, "a CSV", names)
    x, y = _numbers(table, lon, lat, path.name)
    return PointTable(table, x, y, None, (lon, lat))


def _numbers(table: pa.Table, lon: str, lat: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The lon/lat columns as float64 (text parsed; outer spaces allowed), or InvalidInput naming them."""
    import pyarrow as pa

    try:
        return _floats(table.column(lon)), _floats(table.column(lat))
    except pa.ArrowInvalid as exc:
        raise InvalidInput(
            f"{name}: the coordinate columns {lon}, {lat} must hold numbers: {_arrow_detail(str(exc))}",
            where="columns",
        ) from None


def _arrow_detail(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "unreadable"


def _floats(column: Any) -> np.ndarray:
    """A numeric or numeric-text Arrow column as float64 with NaN for nulls, read from its buffers (pyarrow's own
    conversion to numpy loads pandas, a good part of a short command's start)."""
    import pyarrow as pa

    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = []
    for chunk in chunks:
        if pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type):
            chunk = _parsed(chunk)
        elif not (pa.types.is_floating(chunk.type) or pa.types.is_integer(chunk.type)):
            raise pa.ArrowInvalid(f"a column of {chunk.type}, not numbers")
        kind = "f" if pa.types.is_floating(chunk.type) else "u" if pa.types.is_unsigned_integer(chunk.type) else "i"
        validity, data = chunk.buffers()[:2]
        dtype = np.dtype(f"<{kind}{chunk.type.bit_width // 8}")
        values = np.frombuffer(data, dtype=dtype)[chunk.offset : chunk.offset + len(chunk)].astype(np.float64)
        if chunk.null_count:
            valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            values[~valid[chunk.offset : chunk.offset + len(chunk)].astype(bool)] = np.nan
        parts.append(values)
    return np.concatenate(parts) if parts else np.empty(0)


def _parsed(chunk: Any) -> Any:
    """Text to float64 by Arrow's parser; cells with spaces around the number are trimmed first."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.cast(chunk, pa.float64())
    except pa.ArrowInvalid:
        return pc.cast(pc.utf8_trim_whitespace(chunk), pa.float64())


def _wkt_points(text: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    import shapely

    geometry = shapely.from_wkt(text, on_invalid="ignore")
    return _point_coordinates(geometry, name)


def _point_coordinates(geometry: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    import shapely

    kinds = shapely.get_type_id(geometry)
    if not (kinds == shapely.GeometryType.POINT).all() or shapely.is_empty(geometry).any():
        raise InvalidInput(f"{name}: every feature must be a point", where="geometry")
    return shapely.get_x(geometry), shapely.get_y(geometry)


# -- Parquet ------------------------------------------------------------------------------------------


def _read_parquet(path: Path) -> PointTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path).read()  # (pq.read_table would load pyarrow.dataset and pandas)
    except (pa.ArrowException, OSError) as exc:
        raise FileRejected(
            f"{path.name}: cannot read the Parquet file: {_arrow_detail(str(exc))}", where="path"
        ) from None
    geo = json.loads((table.schema.metadata or {}).get(b"geo", b"null") or b"null")
    if isinstance(geo, dict) and geo.get("primary_column") in table.column_names:
        column = geo["primary_column"]
        meta = geo.get("columns", {}).get(column, {})
        x, y = _geometry_coordinates(table.column(column), str(meta.get("encoding", "WKB")), path.name)
        crs = _geoparquet_crs(meta, path.name)
        return PointTable(table.drop_columns([column]).replace_schema_metadata(None), x, y, crs)
    _, lon, lat = coordinate_columns(table.column_names)
    if lon is None or lat is None:
        raise missing_coordinates(path.name, "a Parquet table without GeoParquet geometry", table.column_names)
    x, y = _numbers(table, lon, lat, path.name)
    return PointTable(table.replace_schema_metadata(None), x, y, None, (lon, lat))


def _geometry_coordinates(column: Any, encoding: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """x, y of a GeoParquet point column: native points directly, WKB of 2D little-endian points by reading the
    bytes in place (most files), any other WKB through shapely."""
    import pyarrow as pa

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if column.null_count:
        raise InvalidInput(
            f"{name}: every feature must be a point ({column.null_count} have no geometry)", where="geometry"
        )
    if encoding.lower() == "point":
        return _floats(column.field("x")), _floats(column.field("y"))
    if encoding.upper() != "WKB":
        raise FileRejected(f"{name}: GeoParquet geometry encoding {encoding!r} is not points", where="geometry")
    offsets_buffer, data_buffer = column.buffers()[1:3]
    offset_type = np.int64 if pa.types.is_large_binary(column.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[column.offset : column.offset + len(column) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    if len(column) and (np.diff(offsets) == _WKB_POINT.itemsize).all():
        records = data[offsets[0] : offsets[-1]].view(_WKB_POINT)
        if (records["order"] == 1).all() and (records["kind"] == 1).all():
            return records["x"].astype(np.float64), records["y"].astype(np.float64)
    import shapely

    return _point_coordinates(shapely.from_wkb(np.array(column.to_pylist(), dtype=object)), name)


def _geoparquet_crs(meta: Mapping[str, Any], name: str) -> str | None:
    """A GeoParquet column's CRS as gis.geo.coordinates takes it: absent means OGC:CRS84 (lon/lat WGS 84)."""
    if "crs" not in meta:
        return "wgs84"
    crs = meta["crs"]
    if crs is None:
        return None  # declared unknown: --crs must say
    ident = crs.get("id", {}) if isinstance(crs, dict) else {}
    authority, code = str(ident.get("authority", "")).upper(), str(ident.get("code", ""))
    if (authority, code) in (("OGC", "CRS84"), ("EPSG", "4326")):
        return "wgs84"
    if authority == "EPSG" and code.isdigit():
        return f"EPSG:{code}"
    from pyproj import CRS

    try:
        epsg = CRS.from_user_input(crs).to_epsg()
    except Exception:  # pyproj raises CRSError and others on a damaged definition
        epsg = None
    if epsg is None:
        raise FileRejected(f"{name}: its coordinate system has no EPSG code; give one with --crs", where="crs")
    return f"EPSG:{epsg}"


# -- writing ------------------------------------------------------------------------------------------


def write_points(
    points: PointTable, results: Mapping[str, Any], path: str | Path, *, lon: np.ndarray, lat: np.ndarray
) -> Path:
    """The input columns and then `results` (name → Arrow array) to a CSV or GeoParquet file; GeoParquet gets the
    points (`lon`, `lat`: WGS 84) as its geometry."""
    import pyarrow as pa

    path = Path(path)
    fmt = POINT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise FileRejected(f"{path.name}: points are written as .csv, .parquet or .geoparquet", where="path")
    table = points.table
    replaced = [n for n in table.column_names if n in results or (fmt == "Parquet" and n == GEOMETRY)]
    table = table.drop_columns(replaced) if replaced else table
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "CSV":
        columns = [table.column(n) if n in points.coordinates else _quoted(table.column(n)) for n in table.column_names]
        out = pa.Table.from_arrays([*columns, *results.values()], names=[*table.column_names, *results])
        _write_csv(out, path)
    else:
        # Coordinates read as text (from a CSV) are stored as numbers.
        parsed = dict(zip(points.coordinates, (points.x, points.y), strict=False))
        columns = [
            float_column(parsed[n]) if n in parsed and pa.types.is_string(table.column(n).type) else table.column(n)
            for n in table.column_names
        ]
        out = pa.Table.from_arrays(
            [*columns, *results.values(), _wkb_points(lon, lat)], names=[*table.column_names, *results, GEOMETRY]
        )
        _write_geoparquet(out, path, lon, lat)
    return path


def text_column(values: np.ndarray, index: np.ndarray) -> pa.Array:
    """`values[index]` as an Arrow text column (null where index < 0 or the value is None), built from buffers: dense
    when every value has the same length in bytes (codes), else dictionary-encoded."""
    import pyarrow as pa

    encoded = [b"" if v is None else str(v).encode() for v in values]
    present = np.array([v is not None for v in values], dtype=bool)
    valid = (index >= 0) & present[np.maximum(index, 0)] if len(values) else np.zeros(index.size, dtype=bool)
    sizes = {len(b) for b, p in zip(encoded, present, strict=True) if p}
    if len(sizes) <= 1 and len(values):
        # Fixed width: every row's bytes copied in one gather (a null row's bytes are there too, masked by validity).
        width = sizes.pop() if sizes else 0
        rows = np.frombuffer(b"".join(b.ljust(width, b"\0")[:width] for b in encoded), dtype=np.uint8)
        data = rows.view(f"V{width}")[np.maximum(index, 0)] if width else np.empty(0, dtype=np.uint8)
        offsets = np.arange(index.size + 1, dtype=np.int64) * width
        if offsets[-1] < 2**31:
            offsets = offsets.astype(np.int32)
            kind = pa.string()
        else:
            kind = pa.large_string()
        return pa.Array.from_buffers(kind, index.size, [_bitmap(valid), _buffer(offsets), _buffer(data.view(np.uint8))])
    dictionary_offsets = np.concatenate([[0], np.cumsum([len(b) for b in encoded])]).astype(np.int32)
    dictionary = pa.Array.from_buffers(
        pa.string(), len(values), [None, _buffer(dictionary_offsets), pa.py_buffer(b"".join(encoded))]
    )
    indices = pa.Array.from_buffers(pa.int32(), index.size, [_bitmap(valid), _buffer(index.astype(np.int32))])
    return pa.DictionaryArray.from_arrays(indices, dictionary)


def float_column(values: np.ndarray) -> pa.Array:
    """A float64 Arrow column (NaN stays NaN) over the array's own memory."""
    import pyarrow as pa

    values = np.ascontiguousarray(values, dtype=np.float64)
    return pa.Array.from_buffers(pa.float64(), values.size, [None, _buffer(values)])


def _buffer(values: np.ndarray) -> pa.Buffer:
    import pyarrow as pa

    return pa.py_buffer(np.ascontiguousarray(values))


def _bitmap(valid: np.ndarray) -> pa.Buffer | None:
    """An Arrow validity bitmap, or None when every value is valid."""
    return None if valid.all() else _buffer(np.packbits(valid, bitorder="little"))


def _write_csv(table: pa.Table, path: Path) -> None:
    """Arrow's CSV writer: cells unquoted like most writers' minimal quoting, unless some cell holds a delimiter,
    quote or line break (Arrow refuses to write those unquoted): then every text cell is quoted."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    # UTF-8 with a byte-order mark (Excel), CRLF rows (RFC 4180), as gis.exchange.files writes CSV.
    for quoting in ("none", "needed"):
        options = pcsv.WriteOptions(eol="\r\n", batch_size=1 << 14, quoting_style=quoting, quoting_header=quoting)
        try:
            with pa.OSFile(str(path), "wb") as sink:
                sink.write(_BOM)
                pcsv.write_csv(table, sink, options)
        except pa.ArrowInvalid:
            continue
        return


def _quoted(column: Any) -> Any:
    """A text column with cells that would run as a formula behind a single quote (gis.exchange.files.quote_cell);
    the first byte of each cell is looked at in place, so a column without such cells costs almost nothing."""
    import pyarrow as pa

    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column
    offset_type = np.int64 if pa.types.is_large_string(column.type) else np.int32
    chunks = []
    for chunk in column.chunks if isinstance(column, pa.ChunkedArray) else [column]:
        offsets_buffer, data_buffer = chunk.buffers()[1:3]
        if data_buffer is None or len(chunk) == 0:
            chunks.append(chunk)
            continue
        offsets: np.ndarray = np.frombuffer(offsets_buffer, dtype=offset_type)
        offsets = offsets[chunk.offset : chunk.offset + len(chunk) + 1]
        data = np.frombuffer(data_buffer, dtype=np.uint8)
        filled = offsets[1:] > offsets[:-1]
        first = np.zeros(len(chunk), dtype=np.uint8)
        first[filled] = data[offsets[:-1][filled]]
        formula = np.isin(first, _FORMULA_BYTES)
        if formula.any():
            import pyarrow.compute as pc  # only for columns that hold such cells

            quoted = pc.binary_join_element_wise(pa.scalar("'"), chunk, "")
            chunk = pc.if_else(pa.array(formula), quoted, chunk)
        chunks.append(chunk)
    return pa.chunked_array(chunks, type=column.type)


def _wkb_points(lon: np.ndarray, lat: np.ndarray) -> pa.Array:
    """WKB of 2D points, built as bytes (21 per point) without geometry objects."""
    import pyarrow as pa

    records = np.empty(lon.size, dtype=_WKB_POINT)
    records["order"], records["kind"], records["x"], records["y"] = 1, 1, lon, lat
    offsets = np.arange(lon.size + 1, dtype=np.int32) * _WKB_POINT.itemsize
    return pa.Array.from_buffers(pa.binary(), lon.size, [None, _buffer(offsets), _buffer(records.view(np.uint8))])


def _write_geoparquet(table: pa.Table, path: Path, lon: np.ndarray, lat: np.ndarray) -> None:
    import pyarrow.parquet as pq

    finite = np.isfinite(lon) & np.isfinite(lat)
    x, y = lon[finite], lat[finite]
    bbox = [float(x.min()), float(y.min()), float(x.max()), float(y.max())] if x.size else []
    geo = {
        "version": "1.1.0",
        "primary_column": GEOMETRY,
        # No "crs": GeoParquet's default, OGC:CRS84, is lon/lat WGS 84.
        "columns": {GEOMETRY: {"encoding": "WKB", "geometry_types": ["Point"], "bbox": bbox}},
    }
    metadata = dict(table.schema.metadata or {}) | {b"geo": json.dumps(geo).encode()}
    # Dictionary pages only for the result codes (a few values each): Arrow would try them on every column, the
    # unique geometries included, and give up only after the work; column statistics are skipped likewise.
    coded = [n for n in ("grid_code", "community_code", "street_code", "status") if n in table.column_names]
    pq.write_table(table.replace_schema_metadata(metadata), path, use_dictionary=coded, write_statistics=False)
