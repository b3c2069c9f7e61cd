"""field sessions: long-lived device sessions of the field app, and idempotent check-ins

- `device_sessions`: a sign-in with a device name (the grid worker's phone) gets a long-lived access token; each
  is listed here by its token id (`jti`) so the account can see its devices and end one. Ending one puts its jti
  into `revoked_access_tokens`, which every request already checks: no extra lookup per request.
- `worker_checkin_keys`: a check-in's Idempotency-Key (scoped to the account, as reports' keys are) → the check-in
  it made, with the digest of the request, so a phone retrying a queued check-in makes exactly one row.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-13 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_sessions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("jti", sa.String(length=64), nullable=False),
        # The account's token generation when issued: a password change ends the session without touching this row.
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("jti"),
    )
    op.create_index("ix_device_sessions_user_id", "device_sessions", ["user_id"])
    op.create_table(
        "worker_checkin_keys",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("checkin_id", sa.BigInteger(), nullable=True),  # set once the check-in is made
        sa.Column("request", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["checkin_id"], ["worker_checkins.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("worker_checkin_keys")
    op.drop_index("ix_device_sessions_user_id", table_name="device_sessions")
    op.drop_table("device_sessions")
