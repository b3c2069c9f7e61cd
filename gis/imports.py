"""Importing layers: check every row, repair or reject it with a reason, and load the rest in one transaction.

One bad row never aborts the others; a file that cannot be read, has no CRS, or whose coordinates only
make sense swapped is refused whole (FileRejected) and nothing is written. Rows are numbered from 1 in
source order (the header line of a CSV is not counted). Loading uses COPY.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import audit, dataset
from gis.crs import STORAGE_CRS, check_area_of_use, check_lonlat
from gis.db import quote_ident
from gis.errors import FileRejected
from gis.grid_import import adopt_grid_layer
from gis.households import estimate_households
from gis.io import crs_label, read_frame
from gis.layers import Field, Layer, get_layer
from gis.network_store import build_network
from gis.registry import facility_registry, incident_categories
from gis.settings import get_settings
from gis.workflow import STATES

Progress = Callable[[int, int], None]
COPY_BATCH = 2_000


@dataclass
class RowProblem:
    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass
class ImportReport:
    layer: str
    source: str
    source_crs: str = "none"
    read: int = 0
    imported: int = 0
    repaired: list[RowProblem] = field(default_factory=list)
    rejected: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plan_id: int | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)  # faults of an imported layer as drawn

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"{self.layer}: read {self.read} rows from {self.source} ({self.source_crs}), imported {self.imported}, "
            f"repaired {len(self.repaired)}, rejected {len(self.rejected)}"
        )


def import_file(
    session: Session,
    layer: str,
    path: str | Path,
    *,
    crs: str | None = None,
    progress: Progress | None = None,
    plan_name: str | None = None,
    actor: str = "system",
) -> ImportReport:
    """Read `path` and import it as `layer` inside the caller's transaction."""
    frame = read_frame(path, crs)
    return import_frame(
        session, layer, frame, source=Path(path).name, progress=progress, plan_name=plan_name, actor=actor
    )


def import_frame(
    session: Session,
    layer: str,
    frame: gpd.GeoDataFrame,
    *,
    source: str = "<frame>",
    progress: Progress | None = None,
    plan_name: str | None = None,
    actor: str = "system",
) -> ImportReport:
    spec = get_layer(layer)
    report = ImportReport(layer=spec.name, source=source, source_crs=crs_label(frame.crs), read=len(frame))
    if frame.crs is None:
        raise FileRejected(f"{source}: no coordinate reference system", where="crs")
    rows = np.arange(1, len(frame) + 1)
    geoms = _checked_geometries(frame, spec, report, rows, source)
    columns = _resolve_columns(frame, spec, report, source)
    records = _records(frame, spec, columns, geoms, rows, report)
    if spec.name == "buildings":
        _fill_households(session, records, geoms)
    _reject_duplicate_codes(session, spec, records, report)
    records = [r for r in records if r is not None]
    if spec.name == "network":
        records = _explode_lines(records, report)
    _set_metric_crs(session, records, spec)

    extra: dict[str, Any] = {}
    if spec.name == "grids":
        report.plan_id = extra["plan_id"] = _create_published_plan(session, plan_name or Path(source).stem)
    if spec.name == "network":
        _add_lengths(session, records)
    _copy(session, spec, records, extra, progress)
    report.imported = len(records)
    LINKERS.get(spec.name, lambda _s, _r: None)(session, report)
    report.rejected.sort(key=lambda p: p.row)
    audit.record(
        session,
        actor=actor,
        action=f"import.{spec.name}",
        target=f"layer:{spec.name}",
        after={
            "source": report.source,
            "read": report.read,
            "imported": report.imported,
            "repaired": len(report.repaired),
            "rejected": len(report.rejected),
            "plan_id": report.plan_id,
        },
    )
    return report


# -- geometry ----------------------------------------------------------------------------------------


def _checked_geometries(
    frame: gpd.GeoDataFrame, spec: Layer, report: ImportReport, rows: np.ndarray, source: str
) -> np.ndarray:
    """WGS 84 geometries of the layer's type; None where the row is rejected (with the reason recorded)."""
    geoms = np.array(frame.geometry.to_numpy(), dtype=object)
    reject = _Rejector(report, rows, geoms)
    reject.first_time(shapely.is_missing(geoms) | shapely.is_empty(geoms), "no geometry")

    # Before any repair or transformation: those are the costly steps a huge geometry would stall.
    limit = get_settings().max_vertices
    vertices = shapely.get_num_coordinates(geoms)
    reject.where(
        vertices > limit,
        [f"{n} vertices, more than the limit of {limit} (GRIDMAP_MAX_VERTICES)" for n in vertices[vertices > limit]],
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

    _repair(geoms, spec, report, rows, reject)
    _normalise_type(geoms, spec, reject)
    return geoms


class _Rejector:
    """Records a reason for each newly rejected row and blanks its geometry."""

    def __init__(self, report: ImportReport, rows: np.ndarray, geoms: np.ndarray) -> None:
        self.report, self.rows, self.geoms = report, rows, geoms

    def where(self, mask: np.ndarray, reason: str | Iterable[str]) -> None:
        alive = ~shapely.is_missing(self.geoms)
        if isinstance(reason, str):
            hit = np.flatnonzero(mask & alive)
            reasons = [reason] * len(hit)
        else:
            hit = np.flatnonzero(mask & alive)
            reasons = list(reason)
        for i, why in zip(hit, reasons, strict=True):
            self.report.rejected.append(RowProblem(int(self.rows[i]), why))
        self.geoms[hit] = None

    def first_time(self, mask: np.ndarray, reason: str) -> None:
        """Like `where`, for rows with no geometry left (missing or empty) that no earlier check rejected."""
        already = {p.row for p in self.report.rejected}
        for i in np.flatnonzero(mask):
            if int(self.rows[i]) not in already:
                self.report.rejected.append(RowProblem(int(self.rows[i]), reason))
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


def _repair(geoms: np.ndarray, spec: Layer, report: ImportReport, rows: np.ndarray, reject: _Rejector) -> None:
    present = ~shapely.is_missing(geoms)
    invalid = np.flatnonzero(present & ~shapely.is_valid(geoms))
    if not len(invalid):
        return
    reasons = shapely.is_valid_reason(geoms[invalid])
    fixed = shapely.make_valid(geoms[invalid])
    kept = [_parts_of_kind(g, spec.kind) for g in fixed]
    unrepairable = np.zeros(len(geoms), dtype=bool)
    for i, reason, geom in zip(invalid, reasons, kept, strict=True):
        if geom is None:
            unrepairable[i] = True
            report.rejected.append(
                RowProblem(int(rows[i]), f"invalid geometry ({reason}) cannot be repaired as a {spec.kind}")
            )
        else:
            geoms[i] = geom
            report.repaired.append(RowProblem(int(rows[i]), f"repaired invalid geometry ({reason})"))
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


def _normalise_type(geoms: np.ndarray, spec: Layer, reject: _Rejector) -> None:
    present = np.flatnonzero(~shapely.is_missing(geoms))
    types = shapely.get_type_id(geoms[present])
    names = np.array(
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
    )[types]
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


def _resolve_columns(frame: gpd.GeoDataFrame, spec: Layer, report: ImportReport, source: str) -> dict[str, str]:
    """Map each field to the source column that carries it."""
    available = {str(c).strip().lower(): c for c in frame.columns if c != frame.geometry.name}
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
        report.notes.append(f"ignored columns: {', '.join(ignored)}")
    return chosen


TRUE = {"true", "t", "yes", "y", "1", "是", "公共", "住宅"}
FALSE = {"false", "f", "no", "n", "0", "否"}


def _blank(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def convert(value: Any, f: Field) -> Any:
    """One source value as the field's type; ValueError with a message naming the field."""
    if _blank(value):
        if f.required:
            raise ValueError(f"{f.name} is missing")
        return f.default() if callable(f.default) else f.default
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
        default = f.default() if callable(f.default) else f.default
        for i in blank:
            out[i] = default
        return out, {}
    if f.type not in ("int", "float"):
        out = []
        problems: dict[int, str] = {}
        for i, value in enumerate(values):
            try:
                out.append(convert(value, f))
            except ValueError as exc:
                out.append(None)
                problems[i] = str(exc)
        return out, problems
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    blank = series.isna().to_numpy() | np.array([isinstance(v, str) and not v.strip() for v in values], dtype=bool)
    suspect = ~blank & ~np.isfinite(numbers)
    if f.type == "int":
        suspect |= np.isfinite(numbers) & (numbers != np.floor(numbers))
    if f.minimum is not None:
        suspect |= numbers < f.minimum
    if f.required:
        suspect |= blank
    default = f.default() if callable(f.default) else f.default
    kind = int if f.type == "int" else float
    out = [default if b else kind(n) if np.isfinite(n) else None for b, n in zip(blank, numbers, strict=True)]
    problems = {}
    for i in np.flatnonzero(suspect):
        try:
            out[i] = convert(values[i], f)
        except ValueError as exc:
            out[i] = None
            problems[int(i)] = str(exc)
    return out, problems


def _records(
    frame: gpd.GeoDataFrame,
    spec: Layer,
    columns: dict[str, str],
    geoms: np.ndarray,
    rows: np.ndarray,
    report: ImportReport,
) -> list[dict[str, Any] | None]:
    """One dict per row that survives, None where the row is rejected (with every reason recorded)."""
    converted: dict[str, list[Any]] = {}
    problems: dict[int, list[str]] = {}
    for f in spec.fields:
        if f.name in columns:
            converted[f.name], failed = convert_column(frame[columns[f.name]].to_numpy(dtype=object), f)
            for i, reason in failed.items():
                problems.setdefault(i, []).append(reason)
        else:
            converted[f.name] = [convert(None, f)] * len(frame)
    registries = {
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
    names = list(converted)
    records: list[dict[str, Any] | None] = []
    for i, values in enumerate(zip(*converted.values(), strict=True)):
        if geoms[i] is None:
            records.append(None)
        elif i in problems:
            report.rejected.append(RowProblem(int(rows[i]), "; ".join(problems[i])))
            records.append(None)
        else:
            records.append({"_row": int(rows[i]), "_geom": geoms[i], **dict(zip(names, values, strict=True))})
    return records


def _fill_households(session: Session, records: list[dict[str, Any] | None], geoms: np.ndarray) -> None:
    """Residential buildings without a household count get an estimate, flagged as such."""
    missing = [r for r in records if r is not None and r.get("households") is None and r.get("residential", True)]
    for r in records:
        if r is not None and r.get("households") is None:
            r["households"] = 0
    if not missing:
        return
    settings = get_settings()
    bounds = shapely.total_bounds(np.array([r["_geom"] for r in missing], dtype=object))
    epsg = dataset.metric_epsg(session, tuple(bounds))
    areas = gpd.GeoSeries([r["_geom"] for r in missing], crs=STORAGE_CRS).to_crs(epsg).area.to_numpy()
    floors = np.array([np.nan if r.get("floors") is None else r["floors"] for r in missing], dtype=float)
    estimates = estimate_households(areas, floors, dwelling_size_m2=settings.dwelling_size_m2)
    for r, n in zip(missing, estimates, strict=True):
        r["households"] = int(n)
        r["households_estimated"] = True


CODED_TABLES = {"districts", "streets", "communities"}


def _reject_duplicate_codes(
    session: Session, spec: Layer, records: list[dict[str, Any] | None], report: ImportReport
) -> None:
    if "code" not in {f.name for f in spec.fields}:
        return
    existing: set[str] = set()
    if spec.table in CODED_TABLES:
        existing = set(session.execute(text(f"SELECT code FROM {quote_ident(spec.table)}")).scalars())
    seen: dict[str, int] = {}
    for i, r in enumerate(records):
        if r is None:
            continue
        code = r["code"]
        if code in existing:
            report.rejected.append(RowProblem(r["_row"], f"code {code} already exists in {spec.name}"))
            records[i] = None
        elif code in seen:
            report.rejected.append(RowProblem(r["_row"], f"code {code} repeats row {seen[code]}"))
            records[i] = None
        else:
            seen[code] = r["_row"]


def _explode_lines(records: list[dict[str, Any]], report: ImportReport) -> list[dict[str, Any]]:
    out = []
    split = 0
    for r in records:
        if r["_geom"].geom_type == "MultiLineString":
            parts = shapely.get_parts(r["_geom"])
            split += 1
            out.extend({**r, "_geom": p} for p in parts)
        else:
            out.append(r)
    if split:
        report.notes.append(f"{split} multi-part lines split into single edges")
    return out


def _set_metric_crs(session: Session, records: list[dict[str, Any]], spec: Layer) -> None:
    if records:
        bounds = shapely.total_bounds(np.array([r["_geom"] for r in records], dtype=object))
        dataset.metric_epsg(session, tuple(bounds))


def _add_lengths(session: Session, records: list[dict[str, Any]]) -> None:
    if not records:
        return
    series = gpd.GeoSeries([r["_geom"] for r in records], crs=STORAGE_CRS).to_crs(dataset.metric_epsg(session))
    for r, length in zip(records, series.length.to_numpy(), strict=True):
        r["length_m"] = float(length)


# -- loading -----------------------------------------------------------------------------------------

# Columns written for each layer beyond its declared fields; helper columns the linkers resolve.
STAGED = {"streets": ("district_code", "district_name"), "communities": ("street_code",), "grids": ("community_code",)}


def _copy(
    session: Session,
    spec: Layer,
    records: list[dict[str, Any]],
    extra: dict[str, Any],
    progress: Progress | None,
) -> None:
    staged = STAGED.get(spec.name, ())
    names = [f.name for f in spec.fields if f.name not in staged] + list(extra)
    if spec.name == "network":
        names.append("length_m")
    names = list(dict.fromkeys(names))
    conn = session.connection().connection.driver_connection
    if staged:
        _stage(conn, spec, records, staged)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(spec.table), sql.SQL(", ").join(map(sql.Identifier, [*names, spec.geometry_column]))
    )
    ewkb = shapely.to_wkb(
        shapely.set_srid(np.array([r["_geom"] for r in records], dtype=object), 4326), hex=True, include_srid=True
    )
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for n, (r, geom) in enumerate(zip(records, ewkb, strict=True), start=1):
            copy.write_row([extra[k] if k in extra else r.get(k) for k in names] + [geom])
            if progress and (n % COPY_BATCH == 0 or n == len(records)):
                progress(n, len(records))
    if progress and not records:
        progress(0, 0)


def _stage(conn: Any, spec: Layer, records: list[dict[str, Any]], staged: tuple[str, ...]) -> None:
    """Parent codes go to a temporary table keyed by the layer's code; the linker resolves them."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS import_parents (code text, a text, b text) ON COMMIT DROP")
    conn.execute("TRUNCATE import_parents")
    with conn.cursor() as cursor, cursor.copy("COPY import_parents (code, a, b) FROM STDIN") as copy:
        for r in records:
            values = [r.get(k) for k in staged] + [None] * (2 - len(staged))
            copy.write_row([r["code"], *values])


def _create_published_plan(session: Session, name: str) -> int:
    """An imported grid layer becomes the published plan; the previous one retires."""
    now = datetime.now().astimezone()
    session.execute(
        text("UPDATE grid_plans SET status = 'retired', effective_to = :now WHERE status = 'published'"), {"now": now}
    )
    return session.execute(
        text("INSERT INTO grid_plans (name, status, effective_from) VALUES (:name, 'published', :now) RETURNING id"),
        {"name": name, "now": now},
    ).scalar_one()


# -- linking to parents --------------------------------------------------------------------------------


def _link_streets(session: Session, report: ImportReport) -> None:
    session.execute(
        text("""
        INSERT INTO districts (code, name)
        SELECT DISTINCT ON (dc) dc, COALESCE(p.b, dc)
        FROM import_parents p, LATERAL (SELECT COALESCE(p.a, left(p.code, 6)) AS dc) d
        ON CONFLICT (code) DO NOTHING""")
    )
    session.execute(
        text("""
        UPDATE streets s SET district_id = d.id
        FROM import_parents p JOIN districts d ON d.code = COALESCE(p.a, left(p.code, 6))
        WHERE s.code = p.code""")
    )
    _derive_parent_boundaries(session, "districts", "streets", "district_id")


def _link_communities(session: Session, report: ImportReport) -> None:
    linked = session.execute(
        text("""
        UPDATE communities c SET street_id = s.id
        FROM import_parents p JOIN streets s ON s.code = COALESCE(p.a, left(p.code, 9))
        WHERE c.code = p.code AND c.street_id IS NULL""")
    ).rowcount
    missing = report.imported - linked
    if missing:
        report.notes.append(f"{missing} communities have no matching street (street_code or code prefix)")
    _link_buildings(session, report)


def _link_grids(session: Session, report: ImportReport) -> None:
    session.execute(
        text("""
        UPDATE grids g SET community_id = c.id
        FROM import_parents p JOIN communities c ON c.code = p.a
        WHERE g.plan_id = :plan AND g.code = p.code"""),
        {"plan": report.plan_id},
    )
    # Grids without a community code belong to the community they overlap most.
    session.execute(
        text("""
        UPDATE grids g SET community_id = best.id
        FROM (
            SELECT DISTINCT ON (g2.id) g2.id AS grid_id, c.id
            FROM grids g2 JOIN communities c ON ST_Intersects(c.boundary, g2.geom)
            WHERE g2.plan_id = :plan AND g2.community_id IS NULL
            ORDER BY g2.id, ST_Area(ST_Intersection(c.boundary, g2.geom)) DESC
        ) best
        WHERE g.id = best.grid_id"""),
        {"plan": report.plan_id},
    )
    notes, findings = adopt_grid_layer(session, report.plan_id)
    report.notes += notes
    report.findings = findings


def _link_buildings(session: Session, report: ImportReport) -> None:
    """Each new building belongs to the community holding its representative point."""
    session.execute(
        text("""
        UPDATE buildings b SET community_id = c.id
        FROM communities c
        WHERE b.community_id IS NULL AND ST_Covers(c.boundary, ST_PointOnSurface(b.footprint))""")
    )


def _derive_parent_boundaries(session: Session, parent: str, child: str, key: str) -> None:
    parent, child, key = quote_ident(parent), quote_ident(child), quote_ident(key)
    session.execute(
        text(f"""
        UPDATE {parent} p SET boundary = u.geom
        FROM (SELECT {key} AS id, ST_Multi(ST_Union(boundary)) AS geom FROM {child}
              WHERE {key} IS NOT NULL GROUP BY {key}) u
        WHERE p.id = u.id AND p.boundary IS NULL""")
    )


def _link_incidents(session: Session, report: ImportReport) -> None:
    """Assign new incidents in one join: grid (lowest code on shared edges), areas, department, deadline."""
    categories = incident_categories()
    session.execute(
        text("""
        WITH plan AS (SELECT id FROM grid_plans WHERE status = 'published'),
        rule AS (SELECT * FROM unnest(CAST(:codes AS text[]), CAST(:departments AS text[]),
                                      CAST(:secs AS float8[])) AS r(code, department, secs)),
        hit AS (
            SELECT n.id, (SELECT id FROM plan) AS plan_id, g.id AS grid_id, g.community_id, c.street_id
            FROM incidents n
            LEFT JOIN LATERAL (SELECT g.id, g.community_id FROM grids g
                               WHERE g.plan_id = (SELECT id FROM plan) AND ST_Covers(g.geom, n.location)
                               ORDER BY g.code LIMIT 1) g ON true
            LEFT JOIN communities c ON c.id = g.community_id
            WHERE n.plan_id IS NULL
        )
        UPDATE incidents i SET plan_id = hit.plan_id, grid_id = hit.grid_id, community_id = hit.community_id,
               street_id = hit.street_id,
               location_status = CASE WHEN hit.grid_id IS NULL THEN 'outside' ELSE 'inside' END,
               department = rule.department, state_entered_at = i.reported_at,
               deadline_at = CASE WHEN i.status = 'reported' THEN i.reported_at + make_interval(secs => rule.secs) END
        FROM hit JOIN rule ON true
        WHERE i.id = hit.id AND i.category = rule.code"""),
        {
            "codes": list(categories),
            "departments": [c.department for c in categories.values()],
            "secs": [c.limits_hours["register"] * 3600 for c in categories.values()],
        },
    )
    unplaced = session.execute(text("SELECT count(*) FROM incidents WHERE grid_id IS NULL")).scalar_one()
    if unplaced:
        report.notes.append(f"{unplaced} incidents lie in no grid of the current plan")


def link_communities_to_buildings(session: Session) -> None:
    _link_buildings(session, ImportReport("buildings", "relink"))


def _link_network(session: Session, report: ImportReport) -> None:
    """The walking graph is rebuilt from all network lines whenever lines arrive."""
    report.notes.append(build_network(session).summary())


LINKERS: dict[str, Callable[[Session, ImportReport], None]] = {
    "streets": _link_streets,
    "communities": _link_communities,
    "grids": _link_grids,
    "buildings": _link_buildings,
    "incidents": _link_incidents,
    "network": _link_network,
}
