"""grid plans: units, adjacency, assignments, operation log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:25:14.413883
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_operations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("inverse", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version_after", sa.Integer(), nullable=False),
        sa.Column("undone", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["grid_plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "seq", name="operation_order"),
    )
    op.create_index(op.f("ix_plan_operations_plan_id"), "plan_operations", ["plan_id"], unique=False)
    op.create_table(
        "units",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("compound", sa.Text(), nullable=True),
        sa.Column("households", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("buildings", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("population", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
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
        sa.CheckConstraint("kind IN ('building', 'open')", name="unit_kind"),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_units_community_id"), "units", ["community_id"], unique=False)
    op.create_index("ix_units_geom", "units", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "assignments",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["plan_id"], ["grid_plans.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("plan_id", "unit_id"),
    )
    op.create_index(op.f("ix_assignments_grid_id"), "assignments", ["grid_id"], unique=False)
    op.create_table(
        "unit_adjacency",
        sa.Column("unit_a", sa.BigInteger(), nullable=False),
        sa.Column("unit_b", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("unit_a < unit_b", name="ordered_pair"),
        sa.ForeignKeyConstraint(["unit_a"], ["units.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["unit_b"], ["units.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("unit_a", "unit_b"),
    )
    op.create_index(op.f("ix_unit_adjacency_unit_b"), "unit_adjacency", ["unit_b"], unique=False)
    op.add_column("buildings", sa.Column("unit_id", sa.BigInteger(), nullable=True))
    op.create_index(op.f("ix_buildings_unit_id"), "buildings", ["unit_id"], unique=False)
    op.create_foreign_key("buildings_unit_id_fkey", "buildings", "units", ["unit_id"], ["id"], ondelete="SET NULL")
    op.add_column("grid_plans", sa.Column("code_layout", sa.String(length=32), nullable=True))
    op.add_column(
        "grids",
        sa.Column("lineage", sa.String(length=36), server_default=sa.text("gen_random_uuid()::text"), nullable=False),
    )
    op.add_column("grids", sa.Column("households", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column("grids", sa.Column("buildings", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column("grids", sa.Column("population", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column("grids", sa.Column("area_m2", sa.Float(), server_default=sa.text("0"), nullable=False))
    op.create_index(op.f("ix_grids_lineage"), "grids", ["lineage"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_grids_lineage"), table_name="grids")
    op.drop_column("grids", "area_m2")
    op.drop_column("grids", "population")
    op.drop_column("grids", "buildings")
    op.drop_column("grids", "households")
    op.drop_column("grids", "lineage")
    op.drop_column("grid_plans", "code_layout")
    op.drop_constraint("buildings_unit_id_fkey", "buildings", type_="foreignkey")
    op.drop_index(op.f("ix_buildings_unit_id"), table_name="buildings")
    op.drop_column("buildings", "unit_id")
    op.drop_index(op.f("ix_unit_adjacency_unit_b"), table_name="unit_adjacency")
    op.drop_table("unit_adjacency")
    op.drop_index(op.f("ix_assignments_grid_id"), table_name="assignments")
    op.drop_table("assignments")
    op.drop_index("ix_units_geom", table_name="units", postgresql_using="gist")
    op.drop_index(op.f("ix_units_community_id"), table_name="units")
    op.drop_table("units")
    op.drop_index(op.f("ix_plan_operations_plan_id"), table_name="plan_operations")
    op.drop_table("plan_operations")
