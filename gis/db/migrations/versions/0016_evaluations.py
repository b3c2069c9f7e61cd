"""evaluations: the last step of the closed loop (评价) — a rating of 1–5 and a comment on a closed incident

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-13 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("incidents", sa.Column("rating", sa.SmallInteger(), nullable=True))
    op.add_column("incidents", sa.Column("rating_comment", sa.Text(), nullable=True))
    op.add_column("incidents", sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("incidents", sa.Column("rated_by", sa.String(16), nullable=True))
    op.create_check_constraint("incident_rating", "incidents", "rating BETWEEN 1 AND 5")
    op.create_check_constraint("incident_rated_by", "incidents", "rated_by IN ('reporter', 'dispatcher')")


def downgrade() -> None:
    op.drop_constraint("incident_rated_by", "incidents")
    op.drop_constraint("incident_rating", "incidents")
    for column in ("rated_by", "rated_at", "rating_comment", "rating"):
        op.drop_column("incidents", column)
