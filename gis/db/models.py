"""The data model. Alembic (gis/migrations) owns the schema; these classes mirror it.

Geometries are stored in EPSG:4326 with declared types and GiST indexes. Polygon layers are stored as
MultiPolygon so one type fits every source.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

STORAGE_SRID = 4326  # WGS 84: every geometry column is stored in it (DESIGN.md §2)


def geometry(kind: str) -> Geometry:
    # Indexes are declared explicitly (see __table_args__) so the migration and the models agree.
    return Geometry(geometry_type=kind, srid=STORAGE_SRID, spatial_index=False)


def gist(table: str, column: str) -> Index:
    return Index(f"ix_{table}_{column}", column, postgresql_using="gist")


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Dataset-wide facts decided once, e.g. the metric CRS (`metric_epsg`)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# -- administrative areas: district (区) → street (街道) → community (社区) --------------------------


class District(Base):
    __tablename__ = "districts"
    __table_args__ = (gist("districts", "boundary"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(Text)
    boundary = mapped_column(geometry("MULTIPOLYGON"), nullable=True)


class Street(Base):
    __tablename__ = "streets"
    __table_args__ = (gist("streets", "boundary"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(Text)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id", ondelete="SET NULL"), index=True)
    boundary = mapped_column(geometry("MULTIPOLYGON"), nullable=True)


class Community(Base):
    __tablename__ = "communities"
    __table_args__ = (gist("communities", "boundary"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(15), unique=True)
    name: Mapped[str] = mapped_column(Text)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("streets.id", ondelete="SET NULL"), index=True)
    boundary = mapped_column(geometry("MULTIPOLYGON"), nullable=False)


# -- buildings, facilities, walking network -------------------------------------------------------


class Building(Base):
    __tablename__ = "buildings"
    __table_args__ = (
        gist("buildings", "footprint"),
        CheckConstraint("households >= 0", name="households_non_negative"),
        CheckConstraint("floors IS NULL OR floors >= 1", name="floors_positive"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, index=True)  # the key imports update by (DESIGN.md §3)
    source_id: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    compound: Mapped[str | None] = mapped_column(Text, index=True)  # 小区 / 院落
    floors: Mapped[int | None] = mapped_column(Integer)
    residential: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    households: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    households_estimated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    population_resident: Mapped[int | None] = mapped_column(Integer)  # 常住
    population_registered: Mapped[int | None] = mapped_column(Integer)  # 户籍
    population_floating: Mapped[int | None] = mapped_column(Integer)  # 流动
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="SET NULL"), index=True)
    unit_id: Mapped[int | None] = mapped_column(
        ForeignKey("units.id", ondelete="SET NULL", name="buildings_unit_id_fkey"), index=True
    )
    footprint = mapped_column(geometry("MULTIPOLYGON"), nullable=False)
    entrance = mapped_column(geometry("POINT"), nullable=True)  # where walking starts; else a point on the footprint


class Facility(Base):
    __tablename__ = "facilities"
    __table_args__ = (gist("facilities", "geom"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, index=True)  # the key imports update by
    source_id: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64), index=True)  # code in data/facility_categories.toml
    name: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    capacity: Mapped[int | None] = mapped_column(Integer)
    public: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    geom = mapped_column(geometry("POINT"), nullable=False)


class NetworkEdge(Base):
    """A walkable line as imported (a way, a centreline); `walk_edges` is the noded graph built from these."""

    __tablename__ = "network_edges"
    __table_args__ = (gist("network_edges", "geom"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source_id: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(String(32))
    length_m: Mapped[float] = mapped_column(Float)
    geom = mapped_column(geometry("LINESTRING"), nullable=False)


class WalkEdge(Base):
    """An edge of the walking graph: a piece of a network line between two nodes (gis/coverage/noding.py)."""

    __tablename__ = "walk_edges"
    __table_args__ = (gist("walk_edges", "geom"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    network_edge_id: Mapped[int | None] = mapped_column(ForeignKey("network_edges.id", ondelete="SET NULL"))
    source: Mapped[int] = mapped_column(BigInteger)  # walk_nodes.id
    target: Mapped[int] = mapped_column(BigInteger)
    length_m: Mapped[float] = mapped_column(Float)
    component: Mapped[int] = mapped_column(Integer, index=True)  # 0 = the main connected component
    geom = mapped_column(geometry("LINESTRING"), nullable=False)


class WalkNode(Base):
    __tablename__ = "walk_nodes"
    __table_args__ = (gist("walk_nodes", "geom"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    component: Mapped[int] = mapped_column(Integer)
    geom = mapped_column(geometry("POINT"), nullable=False)


class CoverageRun(Base):
    """One computation of walking distances (all categories, or some), run in the background."""

    __tablename__ = "coverage_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'queued'"))  # queued|running|done|failed
    categories = mapped_column(JSONB, nullable=True)  # null: every category
    actor: Mapped[str] = mapped_column(Text)
    stage: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[float] = mapped_column(Float, server_default=text("0"))  # 0..1
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    report = mapped_column(JSONB, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)


# -- living base data: batches, versions, field visits (gis/basedata) --------------------------------


class ImportBatch(Base):
    """One change to base data: an import, a field visit's approval, an undo or an edit, with its report.

    While a batch works, its id is the transaction's `gridmap.batch_id` setting, which the history triggers
    write into every version they make."""

    __tablename__ = "import_batches"
    __table_args__ = (CheckConstraint("kind IN ('import', 'visit', 'undo', 'edit')", name="batch_kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    layer: Mapped[str] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(Text)
    mode: Mapped[str | None] = mapped_column(String(16))
    scope = mapped_column(JSONB, nullable=True)
    actor: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("clock_timestamp()"))
    report = mapped_column(JSONB, nullable=True)
    undo_of: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))
    undone_by: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))


def _history(table: str, columns: list[Column[Any]]) -> Table:
    """`<table>_history`: every version of a row, written by triggers (migration 0008); the open version
    (valid_to NULL) equals the current row. A row retired from `table` keeps its last version, closed."""
    return Table(
        f"{table}_history",
        Base.metadata,
        Column("id", BigInteger, primary_key=True),
        Column("version", Integer, primary_key=True),
        Column("valid_from", DateTime(timezone=True), nullable=False),
        Column("valid_to", DateTime(timezone=True)),
        Column("batch_id", Integer, ForeignKey("import_batches.id")),
        Column("closed_by", Integer, ForeignKey("import_batches.id")),
        Column("change", String(8), nullable=False),  # insert | update | revive
        *columns,
    )


BUILDINGS_HISTORY = _history(
    "buildings",
    [
        Column("code", Text),
        Column("source_id", Text),
        Column("name", Text),
        Column("address", Text),
        Column("compound", Text),
        Column("floors", Integer),
        Column("residential", Boolean),
        Column("households", Integer),
        Column("households_estimated", Boolean),
        Column("population_resident", Integer),
        Column("population_registered", Integer),
        Column("population_floating", Integer),
        Column("community_id", Integer),
        Column("entrance", geometry("POINT")),
        Column("footprint", geometry("MULTIPOLYGON")),
    ],
)
FACILITIES_HISTORY = _history(
    "facilities",
    [
        Column("code", Text),
        Column("source_id", Text),
        Column("category", String(64)),
        Column("name", Text),
        Column("address", Text),
        Column("capacity", Integer),
        Column("public", Boolean),
        Column("geom", geometry("POINT")),
    ],
)


def _area_history(table: str, code_length: int, parent: str | None) -> Table:
    """An administrative layer's versions: code, name, its parent's id and the boundary."""
    columns: list[Column[Any]] = [Column("code", String(code_length)), Column("name", Text)]
    columns += [Column(parent, Integer)] if parent else []
    return _history(table, [*columns, Column("boundary", geometry("MULTIPOLYGON"))])


COMMUNITIES_HISTORY = _area_history("communities", 15, "street_id")
STREETS_HISTORY = _area_history("streets", 12, "district_id")
DISTRICTS_HISTORY = _area_history("districts", 12, None)
HISTORY_TABLES: dict[str, Table] = {
    "buildings": BUILDINGS_HISTORY,
    "facilities": FACILITIES_HISTORY,
    "communities": COMMUNITIES_HISTORY,
    "streets": STREETS_HISTORY,
    "districts": DISTRICTS_HISTORY,
}


class BuildingVisit(Base):
    """A grid worker's home visit (入户走访): what they observed, pending until a planner approves it into a new
    version of the building, or rejects it. Notes may hold personal data: staff only."""

    __tablename__ = "building_visits"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="visit_status"),
        CheckConstraint("households IS NULL OR households >= 0", name="visit_households_non_negative"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    building_id: Mapped[int] = mapped_column(BigInteger, index=True)  # no FK: a visited building may be retired
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())  # when visited
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    households: Mapped[int | None] = mapped_column(Integer)
    population_resident: Mapped[int | None] = mapped_column(Integer)
    population_registered: Mapped[int | None] = mapped_column(Integer)
    population_floating: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(10), server_default=text("'pending'"), index=True)
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    location = mapped_column(geometry("POINT"), nullable=True)


# -- grid plans ------------------------------------------------------------------------------------


class GridPlan(Base):
    """A version of the grid layout. Exactly one plan is published (current) at a time."""

    __tablename__ = "grid_plans"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published', 'retired')", name="plan_status"),
        Index(
            "one_published_plan",
            text("(status = 'published')"),
            unique=True,
            postgresql_where=text("status = 'published'"),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'draft'"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    base_plan_id: Mapped[int | None] = mapped_column(ForeignKey("grid_plans.id", ondelete="SET NULL"))
    min_households: Mapped[int | None] = mapped_column(Integer)
    max_households: Mapped[int | None] = mapped_column(Integer)
    code_layout: Mapped[str | None] = mapped_column(String(32))  # data/code_layouts.toml; None: the default
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    effective_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    effective_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Grid(Base):
    """A set of units in one plan. Its polygon and statistics are derived from its units and cached."""

    __tablename__ = "grids"
    __table_args__ = (gist("grids", "geom"), UniqueConstraint("plan_id", "code", name="grid_code_per_plan"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("grid_plans.id", ondelete="CASCADE"), index=True)
    # The same grid across plan versions (copied with a plan), so diffs can follow it when its code changes.
    lineage: Mapped[str] = mapped_column(String(36), server_default=text("gen_random_uuid()::text"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(Text)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="SET NULL"), index=True)
    households: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    buildings: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    population: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    area_m2: Mapped[float] = mapped_column(Float, server_default=text("0"))
    # When a base-data change last moved the grid's totals, and which batch did (the planner's drift list).
    data_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    data_batch_id: Mapped[int | None] = mapped_column(Integer)
    geom = mapped_column(geometry("MULTIPOLYGON"), nullable=False)


class Unit(Base):
    """An atomic piece of a community: one building's tessellation cell, or open space. Units tile a community."""

    __tablename__ = "units"
    __table_args__ = (
        gist("units", "geom"),
        CheckConstraint("kind IN ('building', 'open')", name="unit_kind"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    compound: Mapped[str | None] = mapped_column(Text)
    households: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    buildings: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    population: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    area_m2: Mapped[float] = mapped_column(Float)
    geom = mapped_column(geometry("MULTIPOLYGON"), nullable=False)


class UnitAdjacency(Base):
    """Pairs of units sharing an edge (unit_a < unit_b): contiguity and merge checks walk this graph.

    Derived data, written only with the units it joins: no foreign keys (a city's 600,000 pairs checked one by one
    took 9 s); the trigger units_forget_adjacency removes the pairs of deleted units (migration 0023)."""

    __tablename__ = "unit_adjacency"
    __table_args__ = (CheckConstraint("unit_a < unit_b", name="ordered_pair"),)
    unit_a: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    unit_b: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)


class Assignment(Base):
    """The source of truth of a plan: which grid each unit belongs to."""

    __tablename__ = "assignments"
    plan_id: Mapped[int] = mapped_column(ForeignKey("grid_plans.id", ondelete="CASCADE"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"), index=True)


class PlanOperation(Base):
    """Append-only log of edits on a plan, each with the inverse that undoes it exactly."""

    __tablename__ = "plan_operations"
    __table_args__ = (UniqueConstraint("plan_id", "seq", name="operation_order"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("grid_plans.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    payload = mapped_column(JSONB, nullable=False)
    inverse = mapped_column(JSONB, nullable=False)
    version_after: Mapped[int] = mapped_column(Integer)
    undone: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


# -- people and incidents (grown by their capabilities) --------------------------------------------


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('admin', 'planner', 'dispatcher', 'grid_worker', 'viewer', 'leader')", name="user_role"
        ),
        CheckConstraint("btrim(display_name) <> ''", name="user_display_name_not_blank"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(Text)  # what public answers name the account by, never the login
    role: Mapped[str] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(Text)  # personal data: never on public endpoints
    password_hash: Mapped[str | None] = mapped_column(Text)  # argon2; NULL: cannot sign in with a password
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Access tokens carry the generation they were issued under; counting it up ends every one issued before.
    token_generation: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class RevokedAccessToken(Base):
    """An access token ended by signing out, kept until it would have expired anyway."""

    __tablename__ = "revoked_access_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class SignInFailure(Base):
    """Failed sign-ins for one login name (its sha256, whether or not the account exists): the per-account backoff."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (CheckConstraint("failures > 0", name="sign_in_failures_positive"),)
    login_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    """A long-lived token for an integration, acting as its user; only its sha256 is kept."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the token's first characters, to recognise it in lists
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WorkerCheckin(Base):
    """A grid worker's location check-in, located in the plan current at the time."""

    __tablename__ = "worker_checkins"
    __table_args__ = (
        gist("worker_checkins", "location"),
        Index("ix_worker_checkins_user_at", "user_id", "at"),
        CheckConstraint("accuracy_m IS NULL OR accuracy_m >= 0", name="checkin_accuracy_non_negative"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("grid_plans.id", ondelete="SET NULL"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"), index=True)
    location_status: Mapped[str | None] = mapped_column(String(8))  # inside | snapped | outside
    distance_m: Mapped[float | None] = mapped_column(Float)
    own_grid: Mapped[bool] = mapped_column(Boolean)  # the grid is one of the worker's
    location = mapped_column(geometry("POINT"), nullable=False)


class GridWorker(Base):
    """A grid worker (网格员) responsible for a grid, kept by lineage so it follows the grid across plans."""

    __tablename__ = "grid_workers"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    grid_lineage: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)


class Incident(Base):
    """A reported problem, located in the plan current at the time (kept in `plan_id`), moving round the loop."""

    __tablename__ = "incidents"
    __table_args__ = (
        gist("incidents", "location"),
        CheckConstraint(
            "status IN ('reported', 'registered', 'dispatched', 'in_progress', 'resolved', 'verified', 'closed', "
            "'rejected', 'returned', 'duplicate')",
            name="incident_status",
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source_id: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'reported'"), index=True)
    channel: Mapped[str | None] = mapped_column(String(32))
    reporter_contact: Mapped[str | None] = mapped_column(Text)  # personal data: never on public endpoints
    photo_url: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    department: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    state_entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("grid_plans.id", ondelete="SET NULL"))
    # Areas at assignment time, so filters and statistics survive later boundary changes.
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="SET NULL"), index=True)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("streets.id", ondelete="SET NULL"), index=True)
    location_status: Mapped[str | None] = mapped_column(String(8))  # inside | snapped | outside
    distance_m: Mapped[float | None] = mapped_column(Float)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    idempotency_request: Mapped[str | None] = mapped_column(String(64))  # sha256 of the report the key came with
    location = mapped_column(geometry("POINT"), nullable=False)


class IncidentEvent(Base):
    """Append-only history: every report, transition and location correction with actor, time and note."""

    __tablename__ = "incident_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    details = mapped_column(JSONB, nullable=True)


# -- field app (issue 16, migration 0014) ------------------------------------------------------------------------


class DeviceSession(Base):
    """A long-lived access token of a named device (the field app on a worker's phone), listed so it can be ended."""

    __tablename__ = "device_sessions"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text)
    jti: Mapped[str] = mapped_column(String(64), unique=True)  # the token's id: ending it revokes this jti
    generation: Mapped[int] = mapped_column(Integer)  # the account's token generation when it was issued
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WorkerCheckinKey(Base):
    """A check-in's Idempotency-Key (sha256 of account and key) → the check-in it made and the request's digest."""

    __tablename__ = "worker_checkin_keys"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    checkin_id: Mapped[int | None] = mapped_column(ForeignKey("worker_checkins.id", ondelete="CASCADE"))
    request: Mapped[str] = mapped_column(String(64))


# -- residents' tracking numbers (issue 16; migration 0013) ----------------------------------------------------
# A column added to Incident after its class (SQLAlchemy's declarative setattr adds it to table and mapper): the
# short public number a resident follows a report by; the database draws it (incident_tracking_number()) so every
# way of inserting an incident gets one.
Incident.tracking_number = mapped_column(
    String(8), nullable=False, unique=True, index=True, server_default=text("incident_tracking_number()")
)


# -- the basemap (issue 16) -------------------------------------------------------------------------------------


class Landcover(Base):
    """Water and green areas drawn by the basemap; an OSM import brings them (keyed by the OSM id)."""

    __tablename__ = "landcover"
    __table_args__ = (
        gist("landcover", "geom"),
        CheckConstraint("kind IN ('water', 'green')", name="landcover_kind"),
        UniqueConstraint("source_id", name="landcover_source_id"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source_id: Mapped[str] = mapped_column(Text)  # "way/123", "relation/45"
    kind: Mapped[str] = mapped_column(String(8))  # water | green
    name: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(geometry("MULTIPOLYGON"), nullable=False)


# -- photos (issue 16): uploads checked by content, linked to incidents and field visits ------------------------


class Upload(Base):
    """A stored photo, re-encoded without metadata, with its thumbnail (paths relative to the platform's home).

    `client_hash`: sha256 of the uploader's client scope ("user:<id>" or "address:<ip>"): who may attach it."""

    __tablename__ = "uploads"
    __table_args__ = (
        CheckConstraint("content_type IN ('image/jpeg', 'image/png', 'image/webp')", name="upload_content_type"),
        Index("ix_uploads_owner_created", "owner_id", "created_at"),
        Index("ix_uploads_client_created", "client_hash", "created_at"),
    )
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    client_hash: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    thumbnail_path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IncidentPhoto(Base):
    """An upload attached to an incident at one step: report | note | resolve | return."""

    __tablename__ = "incident_photos"
    __table_args__ = (CheckConstraint("kind IN ('report', 'note', 'resolve', 'return')", name="incident_photo_kind"),)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    added_by: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class VisitPhoto(Base):
    """An upload attached to a field visit."""

    __tablename__ = "visit_photos"
    visit_id: Mapped[int] = mapped_column(ForeignKey("building_visits.id", ondelete="CASCADE"), index=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True)


# -- webhooks (migration 0015; gis/incidents/hooks.py) --------------------------------------------------------


class Webhook(Base):
    """Where incident events go (a URL signed with `secret`), filtered by department, category, action (NULL: all)."""

    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)
    departments = mapped_column(postgresql.ARRAY(Text), nullable=True)
    categories = mapped_column(postgresql.ARRAY(Text), nullable=True)
    actions = mapped_column(postgresql.ARRAY(Text), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookOutbox(Base):
    """One event for one webhook, written by a trigger on incident_events in the event's transaction."""

    __tablename__ = "webhook_outbox"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id"),
        Index("ix_webhook_outbox_due", "next_attempt_at", postgresql_where=text("delivered_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(BigInteger)
    incident_id: Mapped[int] = mapped_column(BigInteger)
    payload = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


class WebhookDelivery(Base):
    """One attempt to deliver an outbox row."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("webhook_outbox.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)


class IncidentAssignee(Base):
    """The grid worker an incident is dispatched to (派遣到人); the department is `incidents.department`."""

    __tablename__ = "incident_assignees"
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    assigned_by: Mapped[str] = mapped_column(Text)


# -- coverage, compact (migration 0020; gis/coverage/reach_store.py): `building_reach` and `network_access` are
# views of these in the old one-row-per-building shape.


class CoverageBuildings(Base):
    """The buildings a coverage run measured, ascending: the order of every array of its `coverage_reach` rows."""

    __tablename__ = "coverage_buildings"
    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_id = mapped_column(postgresql.ARRAY(BigInteger), nullable=False)


class CoverageReach(Base):
    """Per category, the walking distance from each building of its run to the nearest facility, in millimetres
    (-1: none reachable, -2: the building is not on the network), and that facility (0: none)."""

    __tablename__ = "coverage_reach"
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("coverage_buildings.run_id", ondelete="CASCADE"), index=True)
    distance_mm = mapped_column(postgresql.ARRAY(Integer), nullable=False)
    facility_id = mapped_column(postgresql.ARRAY(BigInteger), nullable=False)


class CoverageSnaps(Base):
    """Where buildings and facilities meet the walking graph, one row per feature kind, arrays aligned by
    feature id (edge 0, NaN position and access, component -1: nothing within the snap distance)."""

    __tablename__ = "coverage_snaps"
    feature: Mapped[str] = mapped_column(String(16), primary_key=True)  # "building" | "facility"
    feature_id = mapped_column(postgresql.ARRAY(BigInteger), nullable=False)
    edge_id = mapped_column(postgresql.ARRAY(BigInteger), nullable=False)
    position_m = mapped_column(postgresql.ARRAY(Float), nullable=False)
    access_m = mapped_column(postgresql.ARRAY(Float), nullable=False)
    component = mapped_column(postgresql.ARRAY(Integer), nullable=False)
