"""dispatch targets: the grid worker an incident is dispatched to (the department is incidents.department)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-15 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A table of its own rather than a column: one row per dispatched incident, replaced on reassignment (the
    # history keeps every earlier assignee in incident_events).
    op.create_table(
        "incident_assignees",
        sa.Column("incident_id", sa.BigInteger(), sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("assigned_by", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("incident_assignees")
