"""users: sign-in (active flag), API tokens for integrations, grid workers' location check-ins

The users table itself exists since 0001 (name unique, role CHECK, password_hash, created_at) and grid
workers are users linked to their grids' lineages by grid_workers (0003): a worker's login and its grid
record are the same row, so this revision only adds what sign-in and check-ins need.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 18:30:00
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A disabled account keeps its history (actors in logs name it) but can neither sign in nor use a token.
    op.add_column("users", sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False))
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        # sha256 of the token: tokens are 256 random bits, so a fast hash is enough and lookups stay indexed.
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash", name="api_tokens_token_hash_key"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_table(
        "worker_checkins",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("location_status", sa.String(length=8), nullable=True),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("own_grid", sa.Boolean(), nullable=False),
        sa.Column(
            "location",
            geoalchemy2.types.Geometry(geometry_type="POINT", srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.CheckConstraint("accuracy_m IS NULL OR accuracy_m >= 0", name="checkin_accuracy_non_negative"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["plan_id"], ["grid_plans.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_worker_checkins_user_at", "worker_checkins", ["user_id", "at"])
    op.create_index("ix_worker_checkins_grid_id", "worker_checkins", ["grid_id"])
    op.create_index("ix_worker_checkins_location", "worker_checkins", ["location"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("worker_checkins")
    op.drop_table("api_tokens")
    op.drop_column("users", "active")
