"""idempotency scope: a report's Idempotency-Key belongs to its client, and a reused key must carry the same report

- `incidents.idempotency_key` holds new keys as sha256(client, key) (gis.incidents.records.scoped_key): one
  client's key no longer answers another client with its incident. Keys stored before stay as they were; no
  client sends their hash, so they simply stop matching.
- `incidents.idempotency_request`: sha256 of the report a key was first used with (records.request_digest); the
  same key with a different report is a 409 instead of a replay of the first incident. NULL for older rows.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-12 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("incidents", sa.Column("idempotency_request", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("incidents", "idempotency_request")
