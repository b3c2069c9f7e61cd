"""Keyed writes of base data: checked rows of a layer written by key (`code`) in one of four modes.

- upsert: new keys are inserted, known keys updated where a value differs, identical rows left alone;
- replace: upsert, and the rows of the layer (or the scope) absent from the rows are retired;
- update: attributes only, of known keys; an unknown key is a rejected row;
- insert: new keys only; a known key is a rejected row.
A blank cell leaves the stored value. A key that was retired comes back on its old row (a new version of it).
Rows are staged with COPY and compared in the database, so a re-import of an unchanged city writes nothing. The
history triggers version every row written (migration 0008), inside the batch the caller opened
(gis/basedata/batches.py); gis/basedata/carry.py carries plans and coverage through what was written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
import shapely
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db.engine import psycopg_connection
from gis.errors import InvalidInput, NotFound
from gis.layers.catalog import Field, Layer, get_layer
from gis.plans import unit_changes

MODES = ("upsert", "replace", "update", "insert")
KEYED_LAYERS = ("buildings", "facilities", "districts", "streets", "communities")
SQL_TYPES = {"str": "text", "int": "bigint", "float": "double precision", "bool": "boolean", "datetime": "timestamptz"}
# Parent codes of administrative layers travel beside the rows (gis/exchange/load.py links them), not as columns.
NOT_STORED = {"streets": {"district_code", "district_name"}, "communities": {"street_code"}}
SCOPES = ("community", "street")
GEOMETRY_TOLERANCE = 1e-7  # degrees (about 1 cm): a smaller move of every vertex is no change of the shape
Progress = Callable[[int, int], None]
Record = dict[str, Any]
# Rows by column: field name (and `_row`, `_geom`) → an object array with one value per row.
Columns = dict[str, np.ndarray]
BULK_ROWS = 50_000  # new buildings from which an import that doubles the table builds their indexes afterwards
FRESH_STATISTICS = 10_000  # rows written by one import from which its tables are analysed at once
STAGE_CHUNK = 20_000  # rows per COPY chunk (and progress report)
# Local buffers of the session's temp tables: a city's stage (~60 MB) kept in memory rather than written out and read
# back by every pass over it (PostgreSQL's default is 8 MB). Takes effect only before the session's first temp table.
STAGE_BUFFERS = "256MB"
ARROW_TYPES = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}


def columns_of(records: list[Record]) -> Columns:
    """Rows given one dict each (every dict with the same keys) as columns."""
    names = list(dict.fromkeys(k for r in records for k in r))
    table: Columns = {}
    for name in names:
        column = np.empty(len(records), dtype=object)
        column[:] = [r.get(name) for r in records]
        table[name] = column
    return table


def records_of(table: Columns) -> list[Record]:
    """Rows given as columns, one dict each."""
    names = list(table)
    return [dict(zip(names, values, strict=True)) for values in zip(*table.values(), strict=True)]


@dataclass
class RowProblem:
    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass
class Written:
    """What a keyed write did to the layer's rows (ids of the current table)."""

    layer: str
    inserted: list[int] = field(default_factory=list)  # new keys, and retired keys that came back
    revived: int = 0
    updated: list[int] = field(default_factory=list)
    reshaped: list[int] = field(default_factory=list)  # updated rows whose geometry changed
    unchanged: int = 0
    retired: list[unit_changes.RetiredBuilding] = field(default_factory=list)
    retired_ids: list[int] = field(default_factory=list)
    rejected: list[RowProblem] = field(default_factory=list)
    categories: set[str] = field(default_factory=set)  # facilities: categories whose sites changed

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.retired_ids)

    def counts(self) -> dict[str, int]:
        return {
            "inserted": len(self.inserted),
            "updated": len(self.updated),
            "unchanged": self.unchanged,
            "retired": len(self.retired_ids),
            "rejected": len(self.rejected),
        }


# -- the keyed write ---------------------------------------------------------------------------------------


def check_mode(layer: str, mode: str, scope: Mapping[str, str] | None) -> None:
    if mode not in MODES:
        raise InvalidInput(f"mode {mode!r} is not one of {', '.join(MODES)}", where="mode")
    if mode != "insert" and layer not in KEYED_LAYERS:
        raise InvalidInput(
            f"{layer} are imported with --mode insert; keyed modes are for {', '.join(KEYED_LAYERS)}", where="mode"
        )
    if mode == "replace" and layer not in ("buildings", "facilities"):
        raise InvalidInput(
            f"--mode replace retires what a file leaves out; for {layer} that is a re-division: upsert the new "
            "areas instead",
            where="mode",
        )
    if scope and mode != "replace":
        raise InvalidInput("--scope limits what --mode replace retires; it needs --mode replace", where="scope")
    for key in scope or {}:
        if key not in SCOPES:
            raise InvalidInput(f"scope {key!r} is not one of {', '.join(SCOPES)}", where="scope")


def apply_rows(
    session: Session,
    layer_name: str,
    table: Columns,
    *,
    mode: str,
    present: Iterable[str],
    scope: Mapping[str, str] | None = None,
    geometry: bool = True,
    protected: Iterable[str] = (),
    progress: Progress | None = None,
) -> Written:
    """Write `table` (checked rows by column: field values, `_row`, `_geom` unless `geometry` is False) by key.

    `present` names the fields the source carries; the others are never written on known rows. Blank values
    (None) in present fields leave stored values alone. Buildings may carry `households_estimate`. `protected`:
    codes of rows the source holds but that were rejected, which `replace` must not retire.
    """
    protected = set(protected)
    spec = get_layer(layer_name)
    check_mode(spec.name, mode, scope)
    written = Written(spec.name)
    geometry = geometry and mode != "update"
    present = set(present)
    if spec.name == "buildings" and geometry:
        present |= {"households", "households_estimated"}  # estimates follow footprints (blank: see _new_value)
    columns = _columns(spec, present)
    conn = psycopg_connection(session)
    if spec.name == "buildings" and geometry:
        table = {**table, "_community": _communities_of(conn, table["_geom"])}
    _stage(conn, spec, table, columns, geometry=geometry, progress=progress)
    keyless = _fill_keys(conn, spec, columns, geometry=geometry)
    written.rejected += [RowProblem(r, "no code: an attribute update needs the key of each row") for r in keyless]
    if _may_repeat(table["code"]):
        written.rejected += _repeated_keys(conn)
    known: set[str] = set()
    if mode in ("insert", "update"):  # the other modes take known and new keys alike
        matched = sql.SQL("SELECT s.code FROM import_stage s JOIN {} t USING (code)").format(sql.Identifier(spec.table))
        known = {row[0] for row in conn.execute(matched)}
    if mode == "insert":
        written.rejected += _reject_rows(conn, known, lambda code: f"code {code} already exists in {spec.name}")
    if mode == "update":
        written.rejected += _reject_rows(
            conn, None, lambda code: f"code {code} is not in {spec.name} (update changes known rows only)", known=known
        )
    if spec.name == "facilities":
        written.categories |= _old_categories(conn)
    (staged,) = conn.execute("SELECT count(*) FROM import_stage").fetchone() or (0,)
    if mode in ("upsert", "replace", "update"):
        _update(conn, spec, columns, written, geometry=geometry)
    if mode in ("upsert", "replace", "insert"):
        bulk = spec.name == "buildings" and _is_bulk_load(conn)
        if bulk:
            conn.execute("SELECT gridmap_buildings_bulk_begin()")  # migration 0024
        _insert(conn, spec, columns, written)
        if bulk:
            conn.execute("SELECT gridmap_buildings_bulk_end()")
    written.unchanged = staged - len(written.inserted) - len(written.updated)
    if len(written.inserted) + len(written.updated) >= FRESH_STATISTICS:
        # Plans of the history triggers and of the next import rest on row counts; after a large batch the
        # statistics would say "empty" until autovacuum comes round (a sort of every open version instead of one
        # index probe per changed row).
        for name in (spec.table, f"{spec.table}_history"):
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(name)))
    if mode == "replace":
        _retire(session, conn, spec, scope or {}, protected, written)
    if spec.name == "facilities":
        written.categories |= _new_categories(conn, written)
    written.rejected.sort(key=lambda p: p.row)
    conn.execute("DROP TABLE import_stage")
    return written


def _columns(spec: Layer, present: set[str]) -> list[Field]:
    """The layer's stored fields the source carries, the key first."""
    skip = NOT_STORED.get(spec.name, set())
    fields = [f for f in spec.fields if f.name in present and f.name not in skip and f.name != "code"]
    return [spec.field("code"), *fields]


def _stage(
    conn: Any, spec: Layer, table: Columns, columns: list[Field], *, geometry: bool, progress: Progress | None
) -> None:
    """COPY the rows into a temporary `import_stage`, column by column: Arrow writes the CSV text in C (no Python
    object per row and value), which keeps a city-sized re-import close to a plain COPY of the same file."""
    extra = (
        [Field("households_estimate", "int"), Field("_community", "int")]
        if spec.name == "buildings" and geometry
        else []
    )
    staged = [Field("_row", "int"), *columns, *extra]
    definitions: list[sql.Composable] = [
        sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(SQL_TYPES[f.type])) for f in staged
    ]
    if geometry:
        # A column typed with SRID 4326 gives that SRID to WKB that carries none (PostGIS harmonises it), so the
        # geometries need no SRID of their own on the way.
        definitions.append(sql.SQL("geom geometry(Geometry, 4326)"))
    conn.execute("SET LOCAL work_mem = '64MB'")  # a city's stage and table hash-join in memory, not in batches on disk
    _stage_buffers(conn)
    conn.execute(sql.SQL("CREATE TEMP TABLE import_stage ({}) ON COMMIT DROP").format(sql.SQL(", ").join(definitions)))
    n = len(table["_row"])
    arrays = [_arrow_column(table.get(f.name), f, n) for f in staged]
    names = [f.name for f in staged]
    if geometry:
        # Stored shapes are 2D: a Z (CAD, survey) is dropped here rather than refused by the typed column. Binary
        # WKB turned to hex by Python's bytes.hex is a quarter of the time of GEOS writing hex itself.
        wkb = shapely.to_wkb(table["_geom"], output_dimension=2)
        arrays.append(pa.array([None if g is None else g.hex() for g in wkb], type=pa.string()))
        names.append("geom")
    rows = pa.Table.from_arrays(arrays, names=names)
    statement = sql.SQL("COPY import_stage ({}) FROM STDIN (FORMAT csv)").format(
        sql.SQL(", ").join(map(sql.Identifier, names))
    )
    options = pa_csv.WriteOptions(include_header=False)  # nulls unquoted and empty (NULL), text always quoted
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for start in range(0, n, STAGE_CHUNK):
            sink = pa.BufferOutputStream()
            pa_csv.write_csv(rows.slice(start, STAGE_CHUNK), sink, options)
            copy.write(sink.getvalue().to_pybytes())
            if progress:
                progress(min(start + STAGE_CHUNK, n), n)
    # No index or ANALYZE: every use of the stage is one hash join or scan, and the planner sizes a fresh temp
    # table from its pages; both took longer than they saved on a city's re-import.


def _stage_buffers(conn: Any) -> None:
    """Size the session's temp-table buffers for the stage, where it has not used a temp table yet (PostgreSQL
    refuses the change after that; the savepoint keeps the refusal from aborting the transaction)."""
    (current,) = conn.execute("SELECT current_setting('temp_buffers')").fetchone()
    if current == STAGE_BUFFERS:
        return
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('temp_buffers', %s, false)", [STAGE_BUFFERS])
    except psycopg.errors.InvalidParameterValue:
        pass  # a pooled session that staged before keeps its buffers


def _communities_of(conn: Any, geoms: np.ndarray) -> np.ndarray:
    """The community of each footprint: the one covering its representative point, the lowest code where several
    do (None: no community). The rule of gridmap_community_of (migration 0008) for a whole import at once — the
    communities prepared once and probed in process, rather than one SQL call per row (12 s of a 194 k-building
    city's first import)."""
    out = np.full(len(geoms), None, dtype=object)
    rows = conn.execute("SELECT id, ST_AsBinary(boundary) FROM communities ORDER BY code").fetchall()
    if not rows or not len(geoms):
        return out
    boundaries = shapely.from_wkb([r[1] for r in rows])
    present = np.flatnonzero(~shapely.is_missing(geoms))
    points = shapely.point_on_surface(geoms[present])
    # Each boundary prepared once, tested against the points in its envelope.
    area, point = shapely.STRtree(points).query(boundaries, predicate="covers")
    first = pd.Series(area).groupby(point).min()  # boundaries are in code order: the lowest code wins
    ids = np.array([r[0] for r in rows], dtype=object)
    out[present[first.index.to_numpy()]] = ids[first.to_numpy()]
    return out


def _arrow_column(values: np.ndarray | None, f: Field, n: int) -> pa.Array:
    """One column for the CSV; a type Arrow does not convert (dates, or mixed values) goes as text for
    PostgreSQL to parse."""
    if values is None:
        return pa.nulls(n, type=ARROW_TYPES.get(f.type, pa.string()))
    if f.type in ARROW_TYPES:
        try:
            return pa.array(values, type=ARROW_TYPES[f.type], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            pass
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _fill_keys(conn: Any, spec: Layer, columns: list[Field], *, geometry: bool) -> list[int]:
    """Rows without a code take their source id, else a key made from their geometry; without geometry (an
    attribute update) a row without a code is rejected (returned)."""
    names = {f.name for f in columns}
    if geometry:
        source = sql.SQL("source_id, ") if "source_id" in names else sql.SQL("")
        conn.execute(
            sql.SQL("UPDATE import_stage SET code = coalesce({}gridmap_geometry_key(geom)) WHERE code IS NULL").format(
                source
            )
        )
        return []
    return [row[0] for row in conn.execute("DELETE FROM import_stage WHERE code IS NULL RETURNING _row")]


def _may_repeat(codes: np.ndarray) -> bool:
    """Whether staged keys may repeat: given keys do, or some are missing (the keys made for them may)."""
    given = pd.Series(codes, dtype=object)
    return bool(given.isna().any() or given.duplicated().any())


def _repeated_keys(conn: Any) -> list[RowProblem]:
    # A hash aggregate answers "any repeats?" in a fraction of the window sort that finds them.
    if conn.execute("SELECT 1 FROM import_stage GROUP BY code HAVING count(*) > 1 LIMIT 1").fetchone() is None:
        return []
    rows = conn.execute("""
        DELETE FROM import_stage s USING (
            SELECT _row, code, min(_row) OVER (PARTITION BY code) AS first FROM import_stage) d
        WHERE s._row = d._row AND d._row <> d.first RETURNING s._row, s.code, d.first""").fetchall()
    return [RowProblem(r, f"code {code} repeats row {first}") for r, code, first in rows]


def _reject_rows(
    conn: Any, codes: set[str] | None, reason: Callable[[str], str], *, known: set[str] | None = None
) -> list[RowProblem]:
    """Remove staged rows whose code is in `codes` (or, with `known`, not in it) and say why."""
    rows = conn.execute("SELECT _row, code FROM import_stage").fetchall()
    out = [(r, c) for r, c in rows if (c in codes if codes is not None else c not in (known or set()))]
    if out:
        conn.execute("DELETE FROM import_stage WHERE _row = ANY(%s)", [[r for r, _ in out]])
    return [RowProblem(r, reason(c)) for r, c in out]


def _new_value(spec: Layer, f: Field, *, estimates: bool) -> sql.Composable:
    """The value a known row takes: the staged one, else (blank) the stored one."""
    s, t = sql.Identifier("s", f.name), sql.Identifier("t", f.name)
    if spec.name == "buildings" and f.name == "households" and estimates:
        # A blank count keeps a counted value, and re-estimates an estimated one (its footprint may have changed).
        return sql.SQL(
            "coalesce(s.households, CASE WHEN t.households_estimated THEN "
            "coalesce(s.households_estimate, t.households) ELSE t.households END)"
        )
    if spec.name == "buildings" and f.name == "households_estimated":
        return sql.SQL(
            "coalesce(s.households_estimated, CASE WHEN s.households IS NOT NULL THEN false "
            "ELSE t.households_estimated END)"
        )
    return sql.SQL("coalesce({}, {})").format(s, t)


def _updated_fields(columns: list[Field]) -> list[Field]:
    return [f for f in columns if f.name != "code"]


def _moved(spec: Layer) -> sql.Composable:
    """Whether the staged geometry differs from the stored one by more than GEOMETRY_TOLERANCE: the exact test
    first (cheap), the distance only for rows that differ, so a shape that went through a coordinate conversion
    and back (GCJ-02, a projected export) is not a new version."""
    t = sql.Identifier("t", spec.geometry_column)
    return sql.SQL(
        "({t} IS DISTINCT FROM s.geom AND NOT coalesce(ST_HausdorffDistance({t}, s.geom) < {tol}, false))"
    ).format(t=t, tol=sql.Literal(GEOMETRY_TOLERANCE))


def _update(conn: Any, spec: Layer, columns: list[Field], written: Written, *, geometry: bool) -> None:
    fields = _updated_fields(columns)
    stored = [sql.Identifier("t", f.name) for f in fields]
    incoming = [_new_value(spec, f, estimates=geometry) for f in fields]
    if not stored and not geometry:
        return
    moved = _moved(spec) if geometry else sql.SQL("false")
    # The changed rows with their staged values in a table of their own: the UPDATE then probes the layer by id
    # for those few rows instead of joining the whole stage again.
    conn.execute(
        sql.SQL("""CREATE TEMP TABLE import_changed ON COMMIT DROP AS
                   SELECT t.id AS _id, {moved} AS _moved, s.* FROM import_stage s JOIN {table} t USING (code)
                   WHERE ({stored}) IS DISTINCT FROM ({incoming}) OR {moved}""").format(
            moved=moved,
            table=sql.Identifier(spec.table),
            stored=sql.SQL(", ").join([*stored, sql.SQL("NULL")]),
            incoming=sql.SQL(", ").join([*incoming, sql.SQL("NULL")]),
        )
    )
    differs = conn.execute("SELECT _id, _moved FROM import_changed ORDER BY _row").fetchall()
    if not differs:
        conn.execute("DROP TABLE import_changed")
        return
    ids = [d[0] for d in differs]
    reshaped = [d[0] for d in differs if d[1]]
    conn.execute("ANALYZE import_changed")
    sets = [sql.SQL("{} = {}").format(sql.Identifier(f.name), v) for f, v in zip(fields, incoming, strict=True)]
    if geometry:
        column = sql.Identifier(spec.geometry_column)
        sets.append(sql.SQL("{} = CASE WHEN s._moved THEN s.geom ELSE t.{} END").format(column, column))
    conn.execute(
        sql.SQL("UPDATE {table} t SET {sets} FROM import_changed s WHERE t.id = s._id").format(
            table=sql.Identifier(spec.table), sets=sql.SQL(", ").join(sets)
        )
    )
    conn.execute("DROP TABLE import_changed")
    written.updated = ids
    written.reshaped = reshaped


def _is_bulk_load(conn: Any) -> bool:
    """Whether the staged buildings would at least double the table (and are many): then their secondary indexes are
    built once after the insert instead of row by row (migration 0024), at the price of readers of buildings
    waiting for this import to commit — right for a first load or a new city, not for an everyday update."""
    (new,) = conn.execute(
        "SELECT count(*) FROM import_stage s WHERE NOT EXISTS (SELECT 1 FROM buildings t WHERE t.code = s.code)"
    ).fetchone()
    if new < BULK_ROWS:
        return False
    (stored,) = conn.execute("SELECT count(*) FROM buildings").fetchone()
    return bool(new >= stored)


def _insert_value(spec: Layer, f: Field) -> sql.Composable:
    s = sql.Identifier("s", f.name)
    if spec.name == "buildings" and f.name == "households":
        return sql.SQL("coalesce(s.households, s.households_estimate, 0)")
    if spec.name == "buildings" and f.name == "households_estimated":
        return sql.SQL("coalesce(s.households_estimated, s.households IS NULL AND s.households_estimate IS NOT NULL)")
    if f.default is not None and not callable(f.default):
        return sql.SQL("coalesce({}, {})").format(s, sql.Literal(f.default))
    return s


def _insert(conn: Any, spec: Layer, columns: list[Field], written: Written) -> None:
    """Insert staged rows with new keys; a key retired earlier takes its old row id back (a revival)."""
    fields = _updated_fields(columns)
    history = sql.Identifier(f"{spec.table}_history")
    table = sql.Identifier(spec.table)
    names = [sql.Identifier("id"), sql.Identifier("code"), *[sql.Identifier(f.name) for f in fields]]
    names.append(sql.Identifier(spec.geometry_column))
    # The id sequence looked up once: pg_get_serial_sequence per row is a catalog lookup (1 s for a city).
    (sequence,) = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", [spec.table]).fetchone()
    values = [
        sql.SQL("coalesce(r.id, nextval({}::regclass))").format(sql.Literal(sequence)),
        sql.SQL("s.code"),
        *[_insert_value(spec, f) for f in fields],
        sql.SQL("s.geom"),
    ]
    if spec.name == "buildings":
        # A building belongs to the community holding its representative point: decided before it is inserted
        # (_communities_of), so its first version already says where it is.
        names.append(sql.Identifier("community_id"))
        values.append(sql.SQL("s._community"))
    rows = conn.execute(
        sql.SQL("""
        INSERT INTO {table} ({names})
        SELECT {values} FROM import_stage s
        LEFT JOIN LATERAL (
            SELECT h.id FROM {history} h
            WHERE h.code = s.code AND NOT EXISTS (SELECT 1 FROM {table} x WHERE x.id = h.id)
            ORDER BY h.valid_from DESC, h.version DESC LIMIT 1) r ON true
        WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.code = s.code)
        ORDER BY s._row
        RETURNING id""").format(
            table=table, names=sql.SQL(", ").join(names), values=sql.SQL(", ").join(values), history=history
        )
    ).fetchall()
    written.inserted = [r[0] for r in rows]
    if written.inserted:
        written.revived = int(
            conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE batch_id = gridmap_change_batch() AND change = 'revive'").format(
                    history
                )
            ).fetchone()[0]
        )


SCOPE_AREAS = {
    "community": text("SELECT id FROM communities WHERE code = :code"),
    "street": text("SELECT id FROM streets WHERE code = :code"),
}


def _scope_condition(session: Session, spec: Layer, scope: Mapping[str, str]) -> tuple[sql.Composable, list[Any]]:
    """The rows a replace may retire: the layer, or those in the scope's community or street."""
    if not scope:
        return sql.SQL("true"), []
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for key, code in scope.items():
        found = session.execute(SCOPE_AREAS[key], {"code": code}).scalar()
        if found is None:
            raise NotFound(f"scope {key}={code}: there is no {key} with that code", where="scope")
        if spec.name == "buildings" and key == "community":
            parts.append(sql.SQL("t.community_id = %s"))
        elif spec.name == "buildings":
            parts.append(sql.SQL("t.community_id IN (SELECT id FROM communities WHERE street_id = %s)"))
        else:
            area = sql.Identifier("communities" if key == "community" else "streets")
            parts.append(
                sql.SQL("EXISTS (SELECT 1 FROM {} a WHERE a.id = %s AND ST_Covers(a.boundary, t.geom))").format(area)
            )
        params.append(found)
    return sql.SQL(" AND ").join(parts), params


def _retire(
    session: Session, conn: Any, spec: Layer, scope: Mapping[str, str], protected: set[str], written: Written
) -> None:
    """Rows of the layer (in the scope) that the file leaves out leave the current table; history keeps them.
    A row the file holds but that was rejected (`protected`: its code) is not retired for being unreadable."""
    condition, params = _scope_condition(session, spec, scope)
    condition = sql.SQL("{} AND NOT (t.code = ANY(%s))").format(condition)
    params.append(sorted(protected))
    returning = sql.SQL("t.id, t.unit_id, t.community_id") if spec.name == "buildings" else sql.SQL("t.id, t.category")
    rows = conn.execute(
        sql.SQL("""DELETE FROM {table} t WHERE {condition}
                   AND NOT EXISTS (SELECT 1 FROM import_stage s WHERE s.code = t.code) RETURNING {returning}""").format(
            table=sql.Identifier(spec.table), condition=condition, returning=returning
        ),
        params,
    ).fetchall()
    written.retired_ids = [r[0] for r in rows]
    if spec.name == "buildings":
        written.retired = [unit_changes.RetiredBuilding(r[0], r[1], r[2]) for r in rows]
    elif spec.name == "facilities":
        written.categories |= {r[1] for r in rows}


def _old_categories(conn: Any) -> set[str]:
    """Categories of known facilities about to change (a facility moving to another category leaves a gap)."""
    return {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT t.category FROM import_stage s JOIN facilities t USING (code)"
        ).fetchall()
    }


def _new_categories(conn: Any, written: Written) -> set[str]:
    ids = written.inserted + written.updated
    if not ids:
        return set()
    return {r[0] for r in conn.execute("SELECT DISTINCT category FROM facilities WHERE id = ANY(%s)", [ids]).fetchall()}
