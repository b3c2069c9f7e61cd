"""Importing layers: check every row, repair or reject it with a reason, and load the rest in one transaction.

One bad row never aborts the others; a file that cannot be read, has no CRS, or whose coordinates only
make sense swapped is refused whole (FileRejected) and nothing is written. The row checks live in
gis/exchange/rows.py (no database); this module adds what needs one — codes already present, the dataset's
metric CRS — loads the records with COPY, links them to their parents and reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import psycopg
import shapely
from psycopg import sql
from sqlalchemy import CursorResult, text
from sqlalchemy.orm import Session

from gis import audit
from gis.basedata import keyed
from gis.basedata.batches import Batch, batch, finish
from gis.basedata.carry import Carried, carry, link_buildings_to_communities
from gis.coverage.network_store import build_network
from gis.db.engine import psycopg_connection, quote_ident
from gis.errors import FileRejected
from gis.exchange import rows
from gis.exchange.files import crs_label, read_frame, split_part
from gis.exchange.rows import Record, RowProblem
from gis.geo import dataset
from gis.geo.crs import STORAGE_CRS
from gis.layers.catalog import Layer, get_layer
from gis.plans.adopt import adopt_grid_layer
from gis.registry import incident_categories
from gis.settings import Settings

__all__ = [
    "COPY_BATCH",
    "ImportReport",
    "Progress",
    "RowProblem",
    "import_file",
    "import_frame",
    "link_communities_to_buildings",
]

Progress = Callable[[int, int], None]
COPY_BATCH = 2_000


@dataclass
class ImportReport:
    layer: str
    source: str
    source_crs: str = "none"
    mode: str = "insert"
    read: int = 0
    imported: int = 0  # rows written: inserted + updated
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    retired: int = 0
    revived: int = 0
    repaired: list[RowProblem] = field(default_factory=list)
    rejected: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    batch_id: int | None = None
    plan_id: int | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)  # faults of an imported layer as drawn
    drift: list[dict[str, Any]] = field(default_factory=list)  # grids outside their band after this change
    coverage_run: int | None = None  # the recompute this change queued

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        counts = (
            f"inserted {self.inserted}, updated {self.updated}, unchanged {self.unchanged}, retired {self.retired}"
            if self.mode != "insert"
            else f"imported {self.imported}"
        )
        batch = f" (batch {self.batch_id})" if self.batch_id is not None else ""
        return (
            f"{self.layer}: read {self.read} rows from {self.source} ({self.source_crs}), {self.mode}{batch}: "
            f"{counts}, repaired {len(self.repaired)}, rejected {len(self.rejected)}"
        )


def import_file(
    session: Session,
    layer: str,
    path: str | Path,
    *,
    settings: Settings,
    crs: str | None = None,
    mode: str | None = None,
    scope: dict[str, str] | None = None,
    key: str | None = None,
    category_map: str | None = None,
    progress: Progress | None = None,
    plan_name: str | None = None,
    actor: str = "system",
) -> ImportReport:
    """Read `path` and import it as `layer` inside the caller's transaction (see `import_frame`).

    An attribute update (`mode="update"`) of a .csv or .xlsx without geometry reads it as a plain table.
    `category_map`: "osm" or a TOML file mapping a source column's values to facility categories."""
    source = Path(path).name
    if mode == "update" and split_part(Path(path))[0].suffix.lower() in (".csv", ".xlsx") and not _has_geometry(path):
        from gis.exchange.files import read_table

        table = _keyed_column(read_table(path), key, source)
        return _import_attributes(session, layer, table, settings=settings, source=source, actor=actor)
    frame = read_frame(path, crs)
    problems: dict[int, str] = {}
    if category_map is not None:
        from gis.exchange.category_maps import load_category_map, map_categories

        frame, problems = map_categories(frame, load_category_map(category_map))
    return import_frame(
        session,
        layer,
        frame,
        settings=settings,
        source=source,
        mode=mode,
        scope=scope,
        key=key,
        problems=problems,
        progress=progress,
        plan_name=plan_name,
        actor=actor,
    )


def _has_geometry(path: str | Path) -> bool:
    """Whether a table file carries geometry (lon/lat or WKT columns) — an attribute update may have none."""
    from gis.exchange.files import LAT_COLUMNS, LON_COLUMNS, WKT_COLUMNS, read_table

    columns = {str(c).strip().lower() for c in read_table(path, rows=0).columns}
    return bool(columns & set(WKT_COLUMNS)) or bool(columns & set(LON_COLUMNS) and columns & set(LAT_COLUMNS))


def _keyed_column(frame: Any, key: str | None, source: str) -> Any:
    """`--key COLUMN`: that source column carries the rows' key (it becomes `code`)."""
    if key is None:
        return frame
    if key not in frame.columns:
        raise FileRejected(f"{source}: no column {key!r} to take keys from", where="key")
    return frame.drop(columns=[c for c in frame.columns if str(c).strip().lower() in CODE_NAMES and c != key]).rename(
        columns={key: "code"}
    )


CODE_NAMES = {"code", "编码", "代码", "标准地址编码", "地址编码", "id_code"}


def import_frame(
    session: Session,
    layer: str,
    frame: gpd.GeoDataFrame,
    *,
    settings: Settings,
    source: str = "<frame>",
    mode: str | None = None,
    scope: dict[str, str] | None = None,
    key: str | None = None,
    problems: dict[int, str] | None = None,
    progress: Progress | None = None,
    plan_name: str | None = None,
    actor: str = "system",
) -> ImportReport:
    """Import `frame` as `layer` inside the caller's transaction; `settings` gives the vertex limit per geometry
    and the dwelling size of household estimates.

    Buildings, facilities and areas are written by key in a batch (`mode`: upsert by default, replace, update or
    insert; gis/basedata/keyed.py) with every plan and the coverage figures carried through; the other layers
    (grids, network, incidents) are inserted as new rows."""
    spec = get_layer(layer)
    mode = mode or ("upsert" if spec.name in keyed.KEYED_LAYERS else "insert")
    keyed.check_mode(spec.name, mode, scope)
    if frame.crs is None:
        raise FileRejected(f"{source}: no coordinate reference system", where="crs")
    frame = _keyed_column(frame, key, source)
    if spec.name in keyed.KEYED_LAYERS:
        return _import_keyed(
            session,
            spec,
            frame,
            settings=settings,
            source=source,
            mode=mode,
            scope=scope,
            problems=problems,
            progress=progress,
            actor=actor,
        )
    report = ImportReport(layer=spec.name, source=source, source_crs=crs_label(frame.crs), read=len(frame))
    checked = rows.check_rows(frame, spec, source=source, max_vertices=settings.max_vertices, problems=problems)
    report.rejected += checked.rejected
    report.repaired += checked.repaired
    report.notes += checked.notes
    records = _without_taken_codes(session, spec, checked.records, report)
    if spec.name == "network":
        records, split = rows.explode_lines(records)
        if split:
            report.notes.append(f"{split} multi-part lines split into single edges")
    _set_metric_crs(session, np.array([r["_geom"] for r in records], dtype=object))

    extra: dict[str, Any] = {}
    if spec.name == "grids":
        report.plan_id = extra["plan_id"] = _create_imported_plan(session, plan_name or Path(source).stem)
    if spec.name == "network":
        _add_lengths(session, records)
    _copy(session, spec, records, extra, progress)
    report.imported = report.inserted = len(records)
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


def _import_keyed(
    session: Session,
    spec: Layer,
    frame: gpd.GeoDataFrame,
    *,
    settings: Settings,
    source: str,
    mode: str,
    scope: dict[str, str] | None,
    problems: dict[int, str] | None,
    progress: Progress | None,
    actor: str,
) -> ImportReport:
    report = ImportReport(layer=spec.name, source=source, source_crs=crs_label(frame.crs), read=len(frame), mode=mode)
    checked = rows.check_rows(
        frame, spec, source=source, max_vertices=settings.max_vertices, keep_blanks=True, problems=problems
    )
    report.rejected += checked.rejected
    report.repaired += checked.repaired
    report.notes += checked.notes
    table = checked.table
    _set_metric_crs(session, table["_geom"])
    if spec.name == "buildings":
        table["households_estimate"] = _estimate_households(session, table, dwelling_size_m2=settings.dwelling_size_m2)
    protected = _codes_of_rejected(frame, checked) if mode == "replace" else set()
    with batch(session, kind="import", layer=spec.name, actor=actor, source=source, mode=mode, scope=scope) as b:
        if spec.name in STAGED:
            _stage(psycopg_connection(session), spec, checked.records, STAGED[spec.name])
        written = keyed.apply_rows(
            session,
            spec.name,
            table,
            mode=mode,
            present=set(checked.columns),
            scope=scope,
            protected=protected,
            progress=progress,
        )
        if spec.name in ("streets", "communities"):
            LINKERS[spec.name](session, report)
        carried = carry(session, settings, b, written)
        _finish(session, b, report, written, carried)
    return report


def _import_attributes(
    session: Session, layer: str, table: Any, *, settings: Settings, source: str, actor: str
) -> ImportReport:
    """An attribute update from a table without geometry (a register's counts by key)."""
    spec = get_layer(layer)
    keyed.check_mode(spec.name, "update", None)
    report = ImportReport(layer=spec.name, source=source, read=len(table), mode="update")
    checked = rows.check_attributes(table, spec, source=source)
    report.rejected += checked.rejected
    report.notes += checked.notes
    with batch(session, kind="import", layer=spec.name, actor=actor, source=source, mode="update") as b:
        written = keyed.apply_rows(
            session, spec.name, checked.table, mode="update", present=set(checked.columns), geometry=False
        )
        carried = carry(session, settings, b, written)
        _finish(session, b, report, written, carried)
    return report


def _finish(session: Session, b: Batch, report: ImportReport, written: keyed.Written, carried: Carried) -> None:
    report.batch_id = b.id
    report.inserted, report.updated = len(written.inserted), len(written.updated)
    report.imported = report.inserted + report.updated
    report.unchanged, report.retired, report.revived = written.unchanged, len(written.retired_ids), written.revived
    report.rejected = sorted(report.rejected + written.rejected, key=lambda p: p.row)
    if written.revived:
        report.notes.append(f"{written.revived} retired rows came back (their keys were imported again)")
    report.notes += carried.notes
    report.drift = carried.drift
    report.coverage_run = carried.coverage_run
    if carried.drift:
        report.notes.append(f"{len(carried.drift)} grids are outside their plan's household band after this change")
    if carried.coverage_run is not None:
        report.notes.append(f"coverage is stale: recompute queued as run {carried.coverage_run}")
    finish(session, b, report.to_dict(), audit_after={"source": report.source, "mode": report.mode, **written.counts()})


def _estimate_households(session: Session, table: rows.Columns, *, dwelling_size_m2: float) -> np.ndarray:
    """Residential buildings without a household count carry an estimate (None for the others)."""
    geoms = table["_geom"]
    epsg = dataset.metric_epsg(session, tuple(shapely.total_bounds(geoms))) if len(geoms) else 0
    return rows.household_estimates(table, epsg, dwelling_size_m2=dwelling_size_m2)


def _codes_of_rejected(frame: gpd.GeoDataFrame, checked: rows.CheckedRows) -> set[str]:
    """Keys written on rejected rows: a replace must not retire a row only because its new version was bad."""
    column = checked.columns.get("code")
    if column is None or not checked.rejected:
        return set()
    values = frame[column].to_numpy(dtype=object)
    out = set()
    for problem in checked.rejected:
        value = values[problem.row - 1]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if value is not None and str(value).strip() and str(value) != "nan":
            out.add(str(value).strip())
    return out


# -- checks that need the database ---------------------------------------------------------------------


CODED_TABLES = {"districts", "streets", "communities"}


def _without_taken_codes(session: Session, spec: Layer, records: list[Record], report: ImportReport) -> list[Record]:
    """Rows whose code is already stored (administrative layers) or repeats an earlier row are rejected."""
    if "code" not in {f.name for f in spec.fields}:
        return records
    existing: set[str] = set()
    if spec.table in CODED_TABLES:
        existing = set(session.execute(text(f"SELECT code FROM {quote_ident(spec.table)}")).scalars())
    kept, problems = rows.reject_repeated_codes(records, existing, spec.name)
    report.rejected += problems
    return kept


def _set_metric_crs(session: Session, geoms: np.ndarray) -> None:
    """The first data decides the dataset's metric CRS (kept in `meta`)."""
    if len(geoms):
        dataset.metric_epsg(session, tuple(shapely.total_bounds(geoms)))


def _add_lengths(session: Session, records: list[Record]) -> None:
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
    records: list[Record],
    extra: dict[str, Any],
    progress: Progress | None,
) -> None:
    staged = STAGED.get(spec.name, ())
    names = [f.name for f in spec.fields if f.name not in staged] + list(extra)
    if spec.name == "network":
        names.append("length_m")
    names = list(dict.fromkeys(names))
    conn = psycopg_connection(session)
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


def _stage(conn: psycopg.Connection, spec: Layer, records: list[Record], staged: tuple[str, ...]) -> None:
    """Parent codes go to a temporary table keyed by the layer's code; the linker resolves them."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS import_parents (code text, a text, b text) ON COMMIT DROP")
    conn.execute("TRUNCATE import_parents")
    with conn.cursor() as cursor, cursor.copy("COPY import_parents (code, a, b) FROM STDIN") as copy:
        for r in records:
            values = [r.get(k) for k in staged] + [None] * (2 - len(staged))
            copy.write_row([r["code"], *values])


def _create_imported_plan(session: Session, name: str) -> int:
    """An imported grid layer lands as a draft; `adopt_grid_layer` publishes it through the one publishing path
    (gis/plans/lifecycle.publish, under its lock), retiring the plan that was current."""
    return session.execute(
        text("INSERT INTO grid_plans (name, status) VALUES (:name, 'draft') RETURNING id"), {"name": name}
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
    result = session.execute(
        text("""
        UPDATE communities c SET street_id = s.id
        FROM import_parents p JOIN streets s ON s.code = COALESCE(p.a, left(p.code, 9))
        WHERE c.code = p.code AND c.street_id IS NULL""")
    )
    linked = cast(CursorResult[Any], result).rowcount
    missing = report.imported - linked
    if missing:
        report.notes.append(f"{missing} communities have no matching street (street_code or code prefix)")
    _link_buildings(session, report)


def _link_grids(session: Session, report: ImportReport) -> None:
    assert report.plan_id is not None  # import_frame creates the plan before grids are linked
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
    link_buildings_to_communities(session)


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
