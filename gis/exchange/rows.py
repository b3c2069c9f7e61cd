"""Per-row import checks and conversions: geometry, column matching, values, codes and household estimates.

Everything here works on a frame and the layer's declaration, without a database: `check_rows` turns a
source frame into the records worth loading and says why each other row was rejected or how it was
repaired. gis/exchange/load.py adds what needs the database (existing codes, the dataset's metric CRS) and
loads the records. Rows are numbered from 1 in source order (the header line of a CSV is not counted).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.basedata.keyed import Columns, RowProblem, records_of
from gis.errors import FileRejected
from gis.geo.crs import STORAGE_CRS, check_area_of_use, check_lonlat
from gis.geo.user_geometry import made_valid
from gis.incidents.workflow import STATES
from gis.layers.catalog import Field, Layer
from gis.registry import facility_registry, incident_categories

Record = dict[str, Any]  # one row to load: field values, plus its source row (`_row`) and geometry (`_geom`)


@dataclass
class CheckedRows:
    """The rows worth loading, in source order, and what was said about the others."""

    table: Columns = field(default_factory=dict)  # by column; keyed imports stage these without a dict per row
    rejected: list[RowProblem] = field(default_factory=list)
    repaired: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # field name → the source column carrying it

    @property
    def records(self) -> list[Record]:
        """The same rows, one dict each (a new list every time)."""
        return records_of(self.table)


def check_rows(
    frame: gpd.GeoDataFrame,
    spec: Layer,
    *,
    source: str,
    max_vertices: int,
    keep_blanks: bool = False,
    problems: dict[int, str] | None = None,
) -> CheckedRows:
    """Check every row of `frame` (which has a CRS) as a row of layer `spec`: geometries end up in WGS 84 and
    of the layer's type, values of the field's type. One bad row never stops the others; a file whose
    columns or coordinates are wrong as a whole is refused (FileRejected).

    `keep_blanks`: a blank optional cell stays None instead of taking the field's default (keyed imports: a blank
    leaves the stored value). `problems`: reasons found before, by 0-based position (e.g. unmapped categories)."""
    checked = CheckedRows()
    rows = np.arange(1, len(frame) + 1)
    geoms = _checked_geometries(frame, spec, checked, rows, source, max_vertices)
    checked.columns = resolve_columns(frame, spec, checked, source)
    checked.table = _table(
        frame, spec, checked.columns, geoms, rows, checked, keep_blanks=keep_blanks, earlier=problems
    )
    return checked


def check_attributes(
    table: pd.DataFrame, spec: Layer, *, source: str, problems: dict[int, str] | None = None
) -> CheckedRows:
    """Check the rows of an attribute table (no geometry: e.g. a register's `code,households,…`) as values of
    layer `spec`; blanks stay None. A table without a key column is refused."""
    checked = CheckedRows()
    if "code" not in resolve_columns(table, spec, CheckedRows(), source):
        raise FileRejected(
            f"{source}: an attribute update needs a key column: {', '.join(spec.field('code').column_names)}",
            where="code",
        )
    checked.columns = resolve_columns(table, spec, checked, source)
    rows = np.arange(1, len(table) + 1)
    present = np.full(len(table), True, dtype=object)
    checked.table = _table(table, spec, checked.columns, present, rows, checked, keep_blanks=True, earlier=problems)
    del checked.table["_geom"]
    return checked


# -- geometry ----------------------------------------------------------------------------------------


def _checked_geometries(
    frame: gpd.GeoDataFrame, spec: Layer, checked: CheckedRows, rows: np.ndarray, source: str, max_vertices: int
) -> np.ndarray:
    """WGS 84 geometries of the layer's type; None where the row is rejected (with the reason recorded)."""
    geoms = np.array(frame.geometry.to_numpy(), dtype=object)
    reject = _Rejector(checked, rows, geoms)
    reject.first_time(shapely.is_missing(geoms) | shapely.is_empty(geoms), "no geometry")

    # Before any repair or transformation: those are the costly steps a huge geometry would stall.
    vertices = shapely.get_num_coordinates(geoms)
    reject.where(
        vertices > max_vertices,
        [
            f"{n} vertices, more than the limit of {max_vertices} (GRIDMAP_MAX_VERTICES)"
            for n in vertices[vertices > max_vertices]
        ],
    )

    present = ~shapely.is_missing(geoms)
    coords, owner = shapely.get_coordinates(geoms[present], return_index=True)
    owners = np.flatnonzero(present)[owner] if len(owner) else owner
    bad = np.zeros(len(geoms), dtype=bool)
    bad[owners[~np.isfinite(coords).all(axis=1)]] = True
    reject.where(bad, "coordinates are not finite numbers")

    _check_axes(frame, geoms, reject, source)
    if frame.crs != STORAGE_CRS:
        series = gpd.GeoSeries(geoms, crs=frame.crs).to_crs(STORAGE_CRS)
        geoms[:] = series.to_numpy()
        reject.where(~shapely.is_missing(geoms) & _has_nonfinite(geoms), "coordinates cannot be transformed to WGS 84")

    _repair(geoms, spec, checked, rows)
    _normalise_type(geoms, spec, reject)
    return geoms


class _Rejector:
    """Records a reason for each newly rejected row and blanks its geometry."""

    def __init__(self, checked: CheckedRows, rows: np.ndarray, geoms: np.ndarray) -> None:
        self.checked, self.rows, self.geoms = checked, rows, geoms

    def where(self, mask: np.ndarray, reason: str | Iterable[str]) -> None:
        alive = ~shapely.is_missing(self.geoms)
        hit = np.flatnonzero(mask & alive)
        reasons = [reason] * len(hit) if isinstance(reason, str) else list(reason)
        for i, why in zip(hit, reasons, strict=True):
            self.checked.rejected.append(RowProblem(int(self.rows[i]), why))
        self.geoms[hit] = None

    def first_time(self, mask: np.ndarray, reason: str) -> None:
        """Like `where`, for rows with no geometry left (missing or empty) that no earlier check rejected."""
        already = {p.row for p in self.checked.rejected}
        for i in np.flatnonzero(mask):
            if int(self.rows[i]) not in already:
                self.checked.rejected.append(RowProblem(int(self.rows[i]), reason))
        self.geoms[mask] = None


def _has_nonfinite(geoms: np.ndarray) -> np.ndarray:
    out = np.zeros(len(geoms), dtype=bool)
    present = np.flatnonzero(~shapely.is_missing(geoms))
    coords, owner = shapely.get_coordinates(geoms[present], return_index=True)
    out[present[owner[~np.isfinite(coords).all(axis=1)]]] = True
    return out


def _check_axes(frame: gpd.GeoDataFrame, geoms: np.ndarray, reject: _Rejector, source: str) -> None:
    present = np.flatnonzero(~shapely.is_missing(geoms))
    if not len(present):
        return
    coords, owner = shapely.get_coordinates(geoms[present], return_index=True)
    x, y = coords[:, 0], coords[:, 1]
    if not frame.crs.is_geographic:
        check_area_of_use(frame.crs, x, y, what=source)
        return
    out = (np.abs(x) > 180.0) | (np.abs(y) > 90.0)
    if not out.any():
        return
    row_out = np.zeros(len(geoms), dtype=bool)
    row_out[present[owner[out]]] = True
    if row_out[present].all():
        check_lonlat(x, y, what=source)  # the whole layer is off: refuse it with the reason
    swapped = row_out.copy()
    ok_swapped = (np.abs(y) <= 180.0) & (np.abs(x) <= 90.0)
    swapped[present[owner[~ok_swapped]]] = False
    reject.where(swapped, "longitude and latitude look swapped (latitude beyond ±90°)")
    reject.where(row_out, "coordinates out of range for longitude/latitude")


def _repair(geoms: np.ndarray, spec: Layer, checked: CheckedRows, rows: np.ndarray) -> None:
    present = ~shapely.is_missing(geoms)
    invalid = np.flatnonzero(present & ~shapely.is_valid(geoms))
    if not len(invalid):
        return
    reasons = shapely.is_valid_reason(geoms[invalid])
    fixed = made_valid(geoms[invalid])
    kept = [_parts_of_kind(g, spec.kind) for g in fixed]
    unrepairable = np.zeros(len(geoms), dtype=bool)
    for i, reason, geom in zip(invalid, reasons, kept, strict=True):
        if geom is None:
            unrepairable[i] = True
            checked.rejected.append(
                RowProblem(int(rows[i]), f"invalid geometry ({reason}) cannot be repaired as a {spec.kind}")
            )
        else:
            geoms[i] = geom
            checked.repaired.append(RowProblem(int(rows[i]), f"repaired invalid geometry ({reason})"))
    geoms[unrepairable] = None


def _parts_of_kind(geom: shapely.Geometry, kind: str) -> shapely.Geometry | None:
    wanted = {"polygon": 2, "line": 1, "point": 0}[kind]
    parts = [p for p in shapely.get_parts(geom) if shapely.get_dimensions(p) == wanted and not p.is_empty]
    if kind == "polygon":
        parts = [q for p in parts for q in shapely.get_parts(p)]  # flatten MultiPolygons
    if not parts:
        return None
    if kind == "polygon":
        return shapely.multipolygons(parts)
    if kind == "line":
        return parts[0] if len(parts) == 1 else shapely.multilinestrings(parts)
    return parts[0] if len(parts) == 1 else shapely.multipoints(parts)


ACCEPTED = {"polygon": {"Polygon", "MultiPolygon"}, "line": {"LineString", "MultiLineString"}, "point": {"Point"}}
TYPE_NAMES = np.array(
    [
        "Point",
        "LineString",
        "LinearRing",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
    ]
)  # by shapely type id


def _normalise_type(geoms: np.ndarray, spec: Layer, reject: _Rejector) -> None:
    present = np.flatnonzero(~shapely.is_missing(geoms))
    names = TYPE_NAMES[shapely.get_type_id(geoms[present])]
    if spec.kind == "point":
        single = (names == "MultiPoint") & (shapely.get_num_geometries(geoms[present]) == 1)
        geoms[present[single]] = shapely.get_geometry(geoms[present[single]], 0)
        names[single] = "Point"
    wrong = ~np.isin(names, list(ACCEPTED[spec.kind]))
    mask = np.zeros(len(geoms), dtype=bool)
    mask[present[wrong]] = True
    reject.where(mask, [f"expected a {spec.kind} geometry, got {n}" for n in names[wrong]])
    if spec.kind == "polygon":
        polys = present[~wrong]
        single = polys[shapely.get_type_id(geoms[polys]) == shapely.GeometryType.POLYGON]
        geoms[single] = shapely.multipolygons(geoms[single], indices=np.arange(len(single)))
    gone = shapely.is_missing(geoms)
    reject.first_time(gone, "no usable geometry")


# -- attributes --------------------------------------------------------------------------------------


def resolve_columns(frame: pd.DataFrame, spec: Layer, checked: CheckedRows, source: str) -> dict[str, str]:
    """Map each field to the source column that carries it; a missing required column refuses the file."""
    geometry = getattr(frame, "_geometry_column_name", None)  # an attribute table has none
    available = {str(c).strip().lower(): c for c in frame.columns if c != geometry}
    chosen: dict[str, str] = {}
    for f in spec.fields:
        match = next((available[n] for n in f.column_names if n in available), None)
        if match is not None:
            chosen[f.name] = match
        elif f.required:
            raise FileRejected(
                f"{source}: {spec.name} need a {f.name!r} column (also accepted: {', '.join(f.column_names[1:])}); "
                f"the file has {', '.join(map(str, available.values())) or 'no attribute columns'}",
                where=f.name,
            )
    ignored = sorted(set(map(str, available.values())) - set(map(str, chosen.values())))
    if ignored:
        checked.notes.append(f"ignored columns: {', '.join(ignored)}")
    return chosen


TRUE = {"true", "t", "yes", "y", "1", "是", "公共", "住宅"}
FALSE = {"false", "f", "no", "n", "0", "否"}


def _blank(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _default(f: Field) -> Any:
    return f.default() if callable(f.default) else f.default


def convert(value: Any, f: Field) -> Any:
    """One source value as the field's type; ValueError with a message naming the field."""
    if _blank(value):
        if f.required:
            raise ValueError(f"{f.name} is missing")
        return _default(f)
    if f.type == "str":
        if isinstance(value, float) and value.is_integer():
            return str(int(value))  # numeric codes read from Shapefile/GeoPackage
        return str(value).strip()
    if f.type == "bool":
        if isinstance(value, bool | np.bool_):
            return bool(value)
        word = str(value).strip().lower()
        if word in TRUE:
            return True
        if word in FALSE:
            return False
        raise ValueError(f"{f.name}: {value!r} is not yes/no")
    if f.type == "datetime":
        try:
            return pd.Timestamp(value).to_pydatetime()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{f.name}: {value!r} is not a date and time") from exc
    try:
        number = float(value) if not isinstance(value, str) else float(value.strip())
    except (ValueError, TypeError) as exc:
        kind = "a whole number" if f.type == "int" else "a number"
        raise ValueError(f"{f.name}: {value!r} is not {kind}") from exc
    if not math.isfinite(number):
        raise ValueError(f"{f.name}: {value!r} is not a finite number")
    if f.type == "int":
        if not number.is_integer():
            raise ValueError(f"{f.name}: {value!r} is not a whole number")
        number = int(number)
    if f.minimum is not None and number < f.minimum:
        raise ValueError(f"{f.name}: {value!r} is below the minimum {f.minimum:g}")
    return number


def convert_column(values: np.ndarray, f: Field) -> tuple[list[Any], dict[int, str]]:
    """A whole source column as the field's type, and the reason for each value that does not convert.

    Numbers are converted with pandas in one pass; only values it cannot take go through `convert`,
    which names the problem.
    """
    series = pd.Series(values, dtype=object)
    if f.type == "str" and pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        # Plain Python values: pandas' string dtype would turn None back into NaN (COPY would write "nan").
        out = [v or None for v in series.where(series.notna(), "").astype(str).str.strip().tolist()]
        blank = [i for i, v in enumerate(out) if v is None]
        if f.required:
            return out, {i: f"{f.name} is missing" for i in blank}
        default = _default(f)
        for i in blank:
            out[i] = default
        return out, {}
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if f.type == "bool" and inferred in ("boolean", "empty"):
        # True/False already (GeoPackage, GeoJSON, an export): only blanks need the field's rule.
        blank_rows = series.isna().to_numpy()
        out = [bool(v) for v in series.where(~blank_rows, False).tolist()]
        if not blank_rows.any():
            return out, {}
        for i in map(int, np.flatnonzero(blank_rows)):
            out[i] = _default(f)
        problems = {int(i): f"{f.name} is missing" for i in np.flatnonzero(blank_rows)} if f.required else {}
        return out, problems
    if f.type not in ("int", "float"):
        out = []
        problems = {}
        for i, value in enumerate(values):
            try:
                out.append(convert(value, f))
            except ValueError as exc:
                out.append(None)
                problems[i] = str(exc)
        return out, problems
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    blank_mask = series.isna().to_numpy().copy()
    if inferred not in ("integer", "floating", "mixed-integer-float", "decimal", "empty"):
        blank_mask |= np.array([isinstance(v, str) and not v.strip() for v in values], dtype=bool)
    suspect = ~blank_mask & ~np.isfinite(numbers)
    if f.type == "int":
        suspect |= np.isfinite(numbers) & (numbers != np.floor(numbers))
    if f.minimum is not None:
        suspect |= numbers < f.minimum
    if f.required:
        suspect |= blank_mask
    default = _default(f)
    kind = int if f.type == "int" else float
    finite = np.isfinite(numbers)
    out = (numbers.astype(np.int64) if kind is int else numbers).tolist() if finite.all() else []
    if not out:
        out = [default if b else kind(n) if np.isfinite(n) else None for b, n in zip(blank_mask, numbers, strict=True)]
    problems = {}
    for k in map(int, np.flatnonzero(suspect)):
        try:
            out[k] = convert(values[k], f)
        except ValueError as exc:
            out[k] = None
            problems[k] = str(exc)
    return out, problems


def _table(
    frame: pd.DataFrame,
    spec: Layer,
    columns: dict[str, str],
    geoms: np.ndarray,
    rows: np.ndarray,
    checked: CheckedRows,
    *,
    keep_blanks: bool = False,
    earlier: dict[int, str] | None = None,
) -> Columns:
    """The columns of the rows that survive (every reason for the others recorded)."""
    converted: dict[str, list[Any]] = {}
    problems: dict[int, list[str]] = {i: [reason] for i, reason in (earlier or {}).items()}
    for f in spec.fields:
        if f.name in columns:
            kept = replace(f, default=None) if keep_blanks and not f.required else f
            converted[f.name], failed = convert_column(frame[columns[f.name]].to_numpy(dtype=object), kept)
            for i, reason in failed.items():
                problems.setdefault(i, []).append(reason)
        else:
            converted[f.name] = [None if keep_blanks else convert(None, f)] * len(frame)
    registries: dict[str, tuple[str, Collection[str]]] = {
        "facilities": ("facility", facility_registry().categories),
        "incidents": ("incident", incident_categories()),
    }
    if spec.name in registries:
        kind, known = registries[spec.name]
        for i, category in enumerate(converted["category"]):
            if category is not None and category not in known:
                problems.setdefault(i, []).append(f"category {category!r} is not in the {kind} registry")
    if spec.name == "incidents":
        for i, status in enumerate(converted["status"]):
            if status not in STATES:
                problems.setdefault(i, []).append(f"status {status!r} is not one of {', '.join(STATES)}")
    alive = np.fromiter((g is not None for g in geoms), dtype=bool, count=len(geoms))
    for i in sorted(problems):
        if alive[i]:
            checked.rejected.append(RowProblem(int(rows[i]), "; ".join(problems[i])))
            alive[i] = False
    keep = np.flatnonzero(alive)
    table: Columns = {"_row": np.asarray(rows[keep], dtype=object), "_geom": geoms[keep]}
    for name, values in converted.items():
        column = np.empty(len(values), dtype=object)
        column[:] = values
        table[name] = column[keep]
    return table


def reject_repeated_codes(
    records: list[Record], existing: set[str], layer: str
) -> tuple[list[Record], list[RowProblem]]:
    """Records whose code is new, and a problem for each code already in `existing` or seen on an earlier row."""
    kept: list[Record] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for r in records:
        code = r["code"]
        if code in existing:
            problems.append(RowProblem(r["_row"], f"code {code} already exists in {layer}"))
        elif code in seen:
            problems.append(RowProblem(r["_row"], f"code {code} repeats row {seen[code]}"))
        else:
            seen[code] = r["_row"]
            kept.append(r)
    return kept, problems


def explode_lines(records: list[Record]) -> tuple[list[Record], int]:
    """Multi-part lines as one record per part (the walking graph takes single edges); and how many were split."""
    out: list[Record] = []
    split = 0
    for r in records:
        if r["_geom"].geom_type == "MultiLineString":
            split += 1
            out.extend({**r, "_geom": p} for p in shapely.get_parts(r["_geom"]))
        else:
            out.append(r)
    return out, split


# -- households --------------------------------------------------------------------------------------


def estimate_households(
    footprint_m2: np.ndarray, floors: np.ndarray, *, dwelling_size_m2: float, default_floors: int = 1
) -> np.ndarray:
    """Gross floor area ÷ dwelling size, at least one household per residential building.

    `floors` may hold NaN where unknown; those count as `default_floors`.
    """
    levels = np.where(np.isfinite(floors) & (floors >= 1), floors, default_floors)
    estimate = np.floor(np.asarray(footprint_m2, dtype=float) * levels / dwelling_size_m2)
    return np.maximum(estimate, 1).astype(np.int64)


def household_estimates(table: Columns, metric_epsg: int, *, dwelling_size_m2: float) -> np.ndarray:
    """An estimate of households (footprint area in `metric_epsg` × floors ÷ dwelling size) for each residential
    building of `table` without a count, None for the others. Keyed imports keep it beside the row; the database
    decides whether it applies (a new building, or one whose count was an estimate) or a counted value stays."""
    n = len(table["_geom"])
    out = np.full(n, None, dtype=object)
    households = table.get("households", np.full(n, None, dtype=object))
    residential = table.get("residential", np.full(n, None, dtype=object))
    missing = np.flatnonzero((households == None) & (residential != False))  # noqa: E711, E712 (elementwise)
    if not len(missing):
        return out
    geoms = gpd.GeoSeries(table["_geom"][missing], crs=STORAGE_CRS)
    areas = geoms.to_crs(metric_epsg).area.to_numpy()
    floors = pd.to_numeric(pd.Series(table.get("floors", out)[missing], dtype=object), errors="coerce").to_numpy(float)
    out[missing] = estimate_households(areas, floors, dwelling_size_m2=dwelling_size_m2).tolist()
    return out
