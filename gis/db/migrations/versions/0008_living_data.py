"""living base data: keys on buildings and facilities, every version kept, import batches, field visits

Buildings and facilities get a stable key (`code`: a standard-address code, the source system's id, or one made
from the geometry) so imports update rows instead of adding them again. Buildings, facilities and the three
administrative layers keep every version in a `<table>_history` table, written by statement-level triggers
(transition tables, so a 200,000-row COPY costs one INSERT … SELECT, not 200,000 trigger calls). The current
table holds what exists now; a retired row (demolished, closed) leaves it and its last version is closed with
`valid_to` — nothing is lost and `as_of` sees it (the SQL:2011 system-versioned pattern). Every change runs in
an import batch (an import, a field visit's approval, an undo, an edit), named in the transaction's
`gridmap.batch_id` setting and written into each version.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 23:40:00
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Versioned columns of each table with their SQL types; the geometry columns last.
VERSIONED: dict[str, list[tuple[str, str]]] = {
    "buildings": [
        ("code", "text"),
        ("source_id", "text"),
        ("name", "text"),
        ("address", "text"),
        ("compound", "text"),
        ("floors", "integer"),
        ("residential", "boolean"),
        ("households", "integer"),
        ("households_estimated", "boolean"),
        ("population_resident", "integer"),
        ("population_registered", "integer"),
        ("population_floating", "integer"),
        ("community_id", "integer"),
        ("entrance", "geometry(POINT, 4326)"),
        ("footprint", "geometry(MULTIPOLYGON, 4326)"),
    ],
    "facilities": [
        ("code", "text"),
        ("source_id", "text"),
        ("category", "varchar(64)"),
        ("name", "text"),
        ("address", "text"),
        ("capacity", "integer"),
        ("public", "boolean"),
        ("geom", "geometry(POINT, 4326)"),
    ],
    "communities": [
        ("code", "varchar(15)"),
        ("name", "text"),
        ("street_id", "integer"),
        ("boundary", "geometry(MULTIPOLYGON, 4326)"),
    ],
    "streets": [
        ("code", "varchar(12)"),
        ("name", "text"),
        ("district_id", "integer"),
        ("boundary", "geometry(MULTIPOLYGON, 4326)"),
    ],
    "districts": [("code", "varchar(12)"), ("name", "text"), ("boundary", "geometry(MULTIPOLYGON, 4326)")],
}
GEOMETRY = {"buildings": "footprint", "facilities": "geom", "communities": "boundary", "streets": "boundary"}
GEOMETRY["districts"] = "boundary"


def _history_table(table: str) -> None:
    columns = VERSIONED[table]
    names = [c for c, _ in columns]
    listed = ", ".join(names)
    new = ", ".join(f"n.{c}" for c in names)
    open_row = ", ".join(f"h.{c}" for c in names)
    set_same = ", ".join(f"{c} = c.{c}" for c in names)
    history = f"{table}_history"
    op.execute(
        f"""CREATE TABLE {history} (
            id bigint NOT NULL,
            version integer NOT NULL,
            valid_from timestamptz NOT NULL,
            valid_to timestamptz,
            batch_id integer REFERENCES import_batches (id),
            closed_by integer REFERENCES import_batches (id),
            change varchar(8) NOT NULL CHECK (change IN ('insert', 'update', 'revive')),
            {", ".join(f"{c} {t}" for c, t in columns)},
            PRIMARY KEY (id, version))"""
    )
    op.execute(f"CREATE INDEX ix_{history}_open ON {history} (id) WHERE valid_to IS NULL")
    op.execute(f"CREATE INDEX ix_{history}_batch ON {history} (batch_id)")
    op.execute(f"CREATE INDEX ix_{history}_closed_by ON {history} (closed_by)")
    op.execute(f"CREATE INDEX ix_{history}_valid ON {history} (valid_from, valid_to)")
    op.execute(f"CREATE INDEX ix_{history}_code ON {history} (code)")  # a retired key imported again revives its row
    op.execute(f"CREATE INDEX ix_{history}_{GEOMETRY[table]} ON {history} USING gist ({GEOMETRY[table]})")
    # Rows present before this revision become their first version.
    op.execute(
        f"""INSERT INTO {history} (id, version, valid_from, change, {listed})
            SELECT id, 1, now(), 'insert', {listed} FROM {table}"""
    )
    op.execute(
        f"""CREATE FUNCTION {table}_versions_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE t timestamptz := gridmap_change_time(); b integer := gridmap_change_batch();
        BEGIN
            INSERT INTO {history} (id, version, valid_from, batch_id, change, {listed})
            SELECT n.id, coalesce(h.version, 0) + 1, t, b,
                   CASE WHEN h.version IS NULL THEN 'insert' ELSE 'revive' END, {new}
            FROM new_rows n
            LEFT JOIN LATERAL (SELECT max(x.version) AS version FROM {history} x WHERE x.id = n.id) h ON true;
            RETURN NULL;
        END $$"""
    )
    # A row's new values are compared with its open version (an index probe per row: linear in the rows updated,
    # where a join of the OLD and NEW transition tables, which have no statistics, can go quadratic). A second
    # change to a row within one batch amends that batch's version instead of adding another.
    op.execute(
        f"""CREATE FUNCTION {table}_versions_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE t timestamptz := gridmap_change_time(); b integer := gridmap_change_batch();
        BEGIN
            WITH changed AS (
                SELECT n.*, h.version AS open_version,
                       (h.valid_from = t AND h.batch_id IS NOT DISTINCT FROM b) AS same_batch
                FROM new_rows n JOIN {history} h ON h.id = n.id AND h.valid_to IS NULL
                WHERE ({open_row}) IS DISTINCT FROM ({new})
            ), amended AS (
                UPDATE {history} h SET {set_same} FROM changed c
                WHERE h.id = c.id AND h.version = c.open_version AND c.same_batch
                RETURNING h.id
            ), closed AS (
                UPDATE {history} h SET valid_to = t, closed_by = b FROM changed c
                WHERE h.id = c.id AND h.version = c.open_version AND NOT c.same_batch
                RETURNING h.id
            )
            INSERT INTO {history} (id, version, valid_from, batch_id, change, {listed})
            SELECT n.id, n.open_version + 1, t, b, 'update', {new}
            FROM changed n WHERE NOT n.same_batch;
            RETURN NULL;
        END $$"""
    )
    op.execute(
        f"""CREATE FUNCTION {table}_versions_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE t timestamptz := gridmap_change_time(); b integer := gridmap_change_batch();
        BEGIN
            UPDATE {history} h SET valid_to = t, closed_by = b FROM old_rows o
            WHERE h.id = o.id AND h.valid_to IS NULL;
            RETURN NULL;
        END $$"""
    )
    for event, transition in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ):
        op.execute(
            f"""CREATE TRIGGER {table}_versions_{event.lower()} AFTER {event} ON {table}
                REFERENCING {transition} FOR EACH STATEMENT EXECUTE FUNCTION {table}_versions_{event.lower()}()"""
        )


def upgrade() -> None:
    op.create_table(
        "import_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),  # import | visit | undo | edit
        sa.Column("layer", sa.String(length=32), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("scope", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("undo_of", sa.Integer(), nullable=True),
        sa.Column("undone_by", sa.Integer(), nullable=True),
        sa.CheckConstraint("kind IN ('import', 'visit', 'undo', 'edit')", name="batch_kind"),
        sa.ForeignKeyConstraint(["undo_of"], ["import_batches.id"]),
        sa.ForeignKeyConstraint(["undone_by"], ["import_batches.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_import_batches_at", "import_batches", ["at"])
    op.execute(
        """CREATE FUNCTION gridmap_change_time() RETURNS timestamptz LANGUAGE sql VOLATILE AS $$
           SELECT coalesce(nullif(current_setting('gridmap.change_at', true), '')::timestamptz, clock_timestamp()) $$"""
    )
    op.execute(
        """CREATE FUNCTION gridmap_change_batch() RETURNS integer LANGUAGE sql STABLE AS $$
           SELECT nullif(current_setting('gridmap.batch_id', true), '')::integer $$"""
    )
    # A key made from the geometry, for rows whose source has neither a code nor an id: the same shape gets
    # the same key, so importing a keyless file twice still changes nothing.
    op.execute(
        """CREATE FUNCTION gridmap_geometry_key(g geometry) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
           SELECT 'g' || left(md5(ST_AsBinary(ST_SnapToGrid(g, 0.0000001))), 15) $$"""
    )
    # The one rule of where a building belongs: the community holding its representative point (lowest code on a
    # shared edge); one index probe per call, so a whole city links in a linear pass.
    op.execute(
        """CREATE FUNCTION gridmap_community_of(footprint geometry) RETURNS integer LANGUAGE sql STABLE PARALLEL SAFE
           AS $$ SELECT c.id FROM communities c WHERE ST_Covers(c.boundary, ST_PointOnSurface(footprint))
                 ORDER BY c.code LIMIT 1 $$"""
    )
    for table, geom in (("buildings", "footprint"), ("facilities", "geom")):
        op.add_column(table, sa.Column("code", sa.Text(), nullable=True))
        op.execute(
            f"""UPDATE {table} t SET code = k.code || CASE WHEN k.n > 1 THEN '-' || t.id ELSE '' END
                FROM (SELECT id, code, row_number() OVER (PARTITION BY code ORDER BY id) AS n
                      FROM (SELECT id, coalesce(source_id, gridmap_geometry_key({geom})) AS code FROM {table}) c) k
                WHERE k.id = t.id"""
        )
        op.alter_column(table, "code", nullable=False)
        op.create_index(f"ix_{table}_code", table, ["code"], unique=True)
        # Writers that give no key (an API edit, an old script) still get one; the WHEN clause keeps the
        # trigger away from rows that carry a code, so keyed bulk loads pay nothing for it.
        op.execute(
            f"""CREATE FUNCTION {table}_default_code() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                NEW.code := coalesce(NEW.source_id, gridmap_geometry_key(NEW.{geom}));
                IF EXISTS (SELECT 1 FROM {table} WHERE code = NEW.code) THEN
                    NEW.code := NEW.code || '-' || NEW.id;
                END IF;
                RETURN NEW;
            END $$"""
        )
        op.execute(
            f"""CREATE TRIGGER {table}_default_code BEFORE INSERT ON {table} FOR EACH ROW
                WHEN (NEW.code IS NULL) EXECUTE FUNCTION {table}_default_code()"""
        )
    for table in VERSIONED:
        _history_table(table)

    op.create_table(
        "building_visits",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("building_id", sa.BigInteger(), nullable=False),  # no FK: a visited building may be retired
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("population_resident", sa.Integer(), nullable=True),
        sa.Column("population_registered", sa.Integer(), nullable=True),
        sa.Column("population_floating", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),  # personal data possible: staff only
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=10), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column(
            "location",
            geoalchemy2.types.Geometry(geometry_type="POINT", srid=4326, spatial_index=False),
            nullable=True,
        ),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="visit_status"),
        sa.CheckConstraint("households IS NULL OR households >= 0", name="visit_households_non_negative"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["batch_id"], ["import_batches.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key", name="building_visits_idempotency_key_key"),
    )
    op.create_index("ix_building_visits_building_id", "building_visits", ["building_id"])
    op.create_index("ix_building_visits_status", "building_visits", ["status"])

    # Grids whose totals a data change moved: when, and by which batch (the planner's drift list).
    op.add_column("grids", sa.Column("data_changed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("grids", sa.Column("data_batch_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("grids", "data_batch_id")
    op.drop_column("grids", "data_changed_at")
    op.drop_table("building_visits")
    for table in VERSIONED:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER {table}_versions_{event} ON {table}")
            op.execute(f"DROP FUNCTION {table}_versions_{event}()")
        op.drop_table(f"{table}_history")
    for table in ("buildings", "facilities"):
        op.execute(f"DROP TRIGGER {table}_default_code ON {table}")
        op.execute(f"DROP FUNCTION {table}_default_code()")
        op.drop_index(f"ix_{table}_code", table_name=table)
        op.drop_column(table, "code")
    op.execute("DROP FUNCTION gridmap_geometry_key(geometry)")
    op.execute("DROP FUNCTION gridmap_community_of(geometry)")
    op.execute("DROP FUNCTION gridmap_change_batch()")
    op.execute("DROP FUNCTION gridmap_change_time()")
    op.drop_table("import_batches")
