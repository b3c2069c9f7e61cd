"""landcover: water and green areas for the basemap (from an OSM import)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-13 12:00:00
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "landcover",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
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
        sa.CheckConstraint("kind IN ('water', 'green')", name="landcover_kind"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id", name="landcover_source_id"),
    )
    op.create_index("ix_landcover_geom", "landcover", ["geom"], unique=False, postgresql_using="gist")


def downgrade() -> None:
    op.drop_index("ix_landcover_geom", table_name="landcover", postgresql_using="gist")
    op.drop_table("landcover")
