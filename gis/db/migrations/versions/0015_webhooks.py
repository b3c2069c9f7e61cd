"""webhooks: incident events pushed to other platforms (综治平台, departments' systems, the 12345 hotline)

- `webhooks`: where to send which events — a URL, a secret for the HMAC signature, and optional filters by
  department, category and action (NULL: all).
- `webhook_outbox`: one row per (webhook, incident event), written by a trigger on `incident_events` in the same
  transaction as the event, so an event is never lost nor sent without having happened; delivered at least once by
  gis/incidents/hooks.py with retries and backoff. The payload carries no personal data (no description, contact,
  notes or photos).
- `webhook_deliveries`: every attempt — status, error, time — for the delivery log.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-13 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("departments", ARRAY(sa.Text()), nullable=True),
        sa.Column("categories", ARRAY(sa.Text()), nullable=True),
        sa.Column("actions", ARRAY(sa.Text()), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("webhook_id", sa.Integer(), sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("payload", JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("webhook_id", "event_id"),
    )
    op.create_index(
        "ix_webhook_outbox_due", "webhook_outbox", ["next_attempt_at"], postgresql_where=sa.text("delivered_at IS NULL")
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("outbox_id", sa.BigInteger(), sa.ForeignKey("webhook_outbox.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
    )
    op.create_index("ix_webhook_deliveries_outbox", "webhook_deliveries", ["outbox_id"])
    op.execute("""
        CREATE FUNCTION gridmap_webhook_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO webhook_outbox (webhook_id, event_id, incident_id, payload)
            SELECT w.id, e.id, e.incident_id, jsonb_build_object(
                'event_id', e.id, 'incident_id', e.incident_id, 'action', e.action,
                'from_status', e.from_status, 'to_status', e.to_status, 'at', e.at,
                'category', i.category, 'department', i.department, 'channel', i.channel, 'status', i.status,
                'deadline_at', i.deadline_at, 'grid_code', g.code, 'community_code', c.code,
                'lon', ST_X(i.location), 'lat', ST_Y(i.location))
            FROM new_rows e
            JOIN incidents i ON i.id = e.incident_id
            LEFT JOIN grids g ON g.id = i.grid_id
            LEFT JOIN communities c ON c.id = i.community_id
            JOIN webhooks w ON w.active
                AND (w.departments IS NULL OR i.department = ANY (w.departments))
                AND (w.categories IS NULL OR i.category = ANY (w.categories))
                AND (w.actions IS NULL OR e.action = ANY (w.actions))
            ON CONFLICT DO NOTHING;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER incident_events_webhooks AFTER INSERT ON incident_events
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridmap_webhook_outbox()""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS incident_events_webhooks ON incident_events")
    op.execute("DROP FUNCTION IF EXISTS gridmap_webhook_outbox()")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_outbox")
    op.drop_table("webhooks")
