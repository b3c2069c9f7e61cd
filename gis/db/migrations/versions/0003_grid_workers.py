"""grid workers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:33:21.773772
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grid_workers",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("grid_lineage", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "grid_lineage"),
    )
    op.create_index(op.f("ix_grid_workers_grid_lineage"), "grid_workers", ["grid_lineage"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_grid_workers_grid_lineage"), table_name="grid_workers")
    op.drop_table("grid_workers")
