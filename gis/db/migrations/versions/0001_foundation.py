"""foundation: areas, buildings, facilities, network, plans, grids, users, incidents

Revision ID: 0001
Revises:
Create Date: 2026-11-23 11:00:47.986649
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "districts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "boundary",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_districts_boundary", "districts", ["boundary"], unique=False, postgresql_using="gist")
    op.create_table(
        "facilities",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("public", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_facilities_category"), "facilities", ["category"], unique=False)
    op.create_index("ix_facilities_geom", "facilities", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "grid_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'draft'"), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("base_plan_id", sa.Integer(), nullable=True),
        sa.Column("min_households", sa.Integer(), nullable=True),
        sa.Column("max_households", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("effective_to", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'published', 'retired')", name="plan_status"),
        sa.ForeignKeyConstraint(["base_plan_id"], ["grid_plans.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "one_published_plan",
        "grid_plans",
        [sa.literal_column("(status = 'published')")],
        unique=True,
        postgresql_where=sa.text("status = 'published'"),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "network_edges",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=True),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="LINESTRING",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_network_edges_geom", "network_edges", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("role IN ('admin', 'planner', 'dispatcher', 'grid_worker', 'viewer')", name="user_role"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "streets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column(
            "boundary",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(["district_id"], ["districts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_streets_boundary", "streets", ["boundary"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_streets_district_id"), "streets", ["district_id"], unique=False)
    op.create_table(
        "communities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=15), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("street_id", sa.Integer(), nullable=True),
        sa.Column(
            "boundary",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["street_id"], ["streets.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_communities_boundary", "communities", ["boundary"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_communities_street_id"), "communities", ["street_id"], unique=False)
    op.create_table(
        "buildings",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("compound", sa.Text(), nullable=True),
        sa.Column("floors", sa.Integer(), nullable=True),
        sa.Column("residential", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("households", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("households_estimated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("population_resident", sa.Integer(), nullable=True),
        sa.Column("population_registered", sa.Integer(), nullable=True),
        sa.Column("population_floating", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column(
            "footprint",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("floors IS NULL OR floors >= 1", name="floors_positive"),
        sa.CheckConstraint("households >= 0", name="households_non_negative"),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_buildings_community_id"), "buildings", ["community_id"], unique=False)
    op.create_index(op.f("ix_buildings_compound"), "buildings", ["compound"], unique=False)
    op.create_index("ix_buildings_footprint", "buildings", ["footprint"], unique=False, postgresql_using="gist")
    op.create_table(
        "grids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["plan_id"], ["grid_plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "code", name="grid_code_per_plan"),
    )
    op.create_index(op.f("ix_grids_community_id"), "grids", ["community_id"], unique=False)
    op.create_index("ix_grids_geom", "grids", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_grids_plan_id"), "grids", ["plan_id"], unique=False)
    op.create_table(
        "incidents",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'reported'"), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("reporter_contact", sa.Text(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column(
            "location",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["plan_id"], ["grid_plans.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_incidents_category"), "incidents", ["category"], unique=False)
    op.create_index(op.f("ix_incidents_grid_id"), "incidents", ["grid_id"], unique=False)
    op.create_index("ix_incidents_location", "incidents", ["location"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_incidents_status"), "incidents", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_incidents_status"), table_name="incidents")
    op.drop_index("ix_incidents_location", table_name="incidents", postgresql_using="gist")
    op.drop_index(op.f("ix_incidents_grid_id"), table_name="incidents")
    op.drop_index(op.f("ix_incidents_category"), table_name="incidents")
    op.drop_table("incidents")
    op.drop_index(op.f("ix_grids_plan_id"), table_name="grids")
    op.drop_index("ix_grids_geom", table_name="grids", postgresql_using="gist")
    op.drop_index(op.f("ix_grids_community_id"), table_name="grids")
    op.drop_table("grids")
    op.drop_index("ix_buildings_footprint", table_name="buildings", postgresql_using="gist")
    op.drop_index(op.f("ix_buildings_compound"), table_name="buildings")
    op.drop_index(op.f("ix_buildings_community_id"), table_name="buildings")
    op.drop_table("buildings")
    op.drop_index(op.f("ix_communities_street_id"), table_name="communities")
    op.drop_index("ix_communities_boundary", table_name="communities", postgresql_using="gist")
    op.drop_table("communities")
    op.drop_index(op.f("ix_streets_district_id"), table_name="streets")
    op.drop_index("ix_streets_boundary", table_name="streets", postgresql_using="gist")
    op.drop_table("streets")
    op.drop_table("users")
    op.drop_index("ix_network_edges_geom", table_name="network_edges", postgresql_using="gist")
    op.drop_table("network_edges")
    op.drop_table("meta")
    op.drop_index("one_published_plan", table_name="grid_plans", postgresql_where=sa.text("status = 'published'"))
    op.drop_table("grid_plans")
    op.drop_index("ix_facilities_geom", table_name="facilities", postgresql_using="gist")
    op.drop_index(op.f("ix_facilities_category"), table_name="facilities")
    op.drop_table("facilities")
    op.drop_index("ix_districts_boundary", table_name="districts", postgresql_using="gist")
    op.drop_table("districts")
