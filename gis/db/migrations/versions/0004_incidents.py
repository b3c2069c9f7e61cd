"""incidents: handling loop, history, idempotency

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:35:11.606752
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_incident_events_incident_id"), "incident_events", ["incident_id"], unique=False)
    op.add_column("incidents", sa.Column("photo_url", sa.Text(), nullable=True))
    op.add_column("incidents", sa.Column("address", sa.Text(), nullable=True))
    op.add_column("incidents", sa.Column("department", sa.Text(), nullable=True))
    op.add_column(
        "incidents",
        sa.Column("state_entered_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.add_column("incidents", sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("incidents", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("incidents", sa.Column("community_id", sa.Integer(), nullable=True))
    op.add_column("incidents", sa.Column("street_id", sa.Integer(), nullable=True))
    op.add_column("incidents", sa.Column("location_status", sa.String(length=8), nullable=True))
    op.add_column("incidents", sa.Column("distance_m", sa.Float(), nullable=True))
    op.add_column("incidents", sa.Column("duplicate_of", sa.BigInteger(), nullable=True))
    op.add_column("incidents", sa.Column("idempotency_key", sa.String(length=200), nullable=True))
    op.create_index(op.f("ix_incidents_community_id"), "incidents", ["community_id"], unique=False)
    op.create_index(op.f("ix_incidents_deadline_at"), "incidents", ["deadline_at"], unique=False)
    op.create_index(op.f("ix_incidents_reported_at"), "incidents", ["reported_at"], unique=False)
    op.create_index(op.f("ix_incidents_street_id"), "incidents", ["street_id"], unique=False)
    op.create_unique_constraint("incidents_idempotency_key_key", "incidents", ["idempotency_key"])
    op.create_foreign_key(
        "incidents_street_id_fkey", "incidents", "streets", ["street_id"], ["id"], ondelete="SET NULL"
    )
    op.create_foreign_key(
        "incidents_duplicate_of_fkey", "incidents", "incidents", ["duplicate_of"], ["id"], ondelete="SET NULL"
    )
    op.create_foreign_key(
        "incidents_community_id_fkey", "incidents", "communities", ["community_id"], ["id"], ondelete="SET NULL"
    )
    op.create_check_constraint(
        "incident_status",
        "incidents",
        "status IN ('reported', 'registered', 'dispatched', 'in_progress', 'resolved', 'verified', 'closed', "
        "'rejected', 'returned', 'duplicate')",
    )


def downgrade() -> None:
    op.drop_constraint("incident_status", "incidents", type_="check")
    op.drop_constraint("incidents_community_id_fkey", "incidents", type_="foreignkey")
    op.drop_constraint("incidents_duplicate_of_fkey", "incidents", type_="foreignkey")
    op.drop_constraint("incidents_street_id_fkey", "incidents", type_="foreignkey")
    op.drop_constraint("incidents_idempotency_key_key", "incidents", type_="unique")
    op.drop_index(op.f("ix_incidents_street_id"), table_name="incidents")
    op.drop_index(op.f("ix_incidents_reported_at"), table_name="incidents")
    op.drop_index(op.f("ix_incidents_deadline_at"), table_name="incidents")
    op.drop_index(op.f("ix_incidents_community_id"), table_name="incidents")
    op.drop_column("incidents", "idempotency_key")
    op.drop_column("incidents", "duplicate_of")
    op.drop_column("incidents", "distance_m")
    op.drop_column("incidents", "location_status")
    op.drop_column("incidents", "street_id")
    op.drop_column("incidents", "community_id")
    op.drop_column("incidents", "closed_at")
    op.drop_column("incidents", "deadline_at")
    op.drop_column("incidents", "state_entered_at")
    op.drop_column("incidents", "department")
    op.drop_column("incidents", "address")
    op.drop_column("incidents", "photo_url")
    op.drop_index(op.f("ix_incident_events_incident_id"), table_name="incident_events")
    op.drop_table("incident_events")
