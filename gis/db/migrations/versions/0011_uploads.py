"""uploads: photos checked by content and stored under the platform's home, linked to incidents and field visits

- `uploads`: one stored image (re-encoded without metadata) and its thumbnail, by a random unguessable id; the
  uploader's account (NULL for the public) and the sha256 of its client scope ("user:<id>" or "address:<ip>", as
  incident reports' idempotency keys are scoped), so an anonymous report may attach only its own client's uploads.
- `incident_photos`, `visit_photos`: which incident (with the kind of step: report, note, resolve, return) or visit
  an upload belongs to; an upload belongs to at most one of either (unique upload_id, checked across both in
  gis/incidents/uploads.py under the upload's row lock).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-13 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("client_hash", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("thumbnail_path", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("content_type IN ('image/jpeg', 'image/png', 'image/webp')", name="upload_content_type"),
    )
    # The limits count recent uploads per account and per anonymous client.
    op.create_index("ix_uploads_owner_created", "uploads", ["owner_id", "created_at"])
    op.create_index("ix_uploads_client_created", "uploads", ["client_hash", "created_at"])
    op.create_table(
        "incident_photos",
        sa.Column(
            "incident_id",
            sa.BigInteger(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("upload_id", sa.Text(), sa.ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("added_by", sa.Text(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("kind IN ('report', 'note', 'resolve', 'return')", name="incident_photo_kind"),
    )
    op.create_table(
        "visit_photos",
        sa.Column(
            "visit_id",
            sa.BigInteger(),
            sa.ForeignKey("building_visits.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("upload_id", sa.Text(), sa.ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("visit_photos")
    op.drop_table("incident_photos")
    op.drop_table("uploads")
