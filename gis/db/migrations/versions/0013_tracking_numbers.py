"""tracking numbers: a short public number per incident for residents (issue 16)

- `incident_tracking_number()`: 8 characters from a 32-symbol alphabet without 0/O/1/I (digits 2-9 and the
  letters A-Z but I and O), drawn from gen_random_uuid()'s random bytes: 2^40 numbers, so nobody can walk
  through the numbers of others' reports, and no letter is misread for a digit over the phone. 32 symbols divide
  256, so each byte's low 5 bits give an unbiased symbol.
- `incidents.tracking_number`: that function as the column's default, so every way an incident is inserted
  (reports, Open311, imports by COPY) gets one; existing rows are backfilled; unique.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-13 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

# Bytes 6 and 8 of a version-4 UUID carry its version and variant bits: the symbols come from the others.
FUNCTION = f"""
CREATE OR REPLACE FUNCTION incident_tracking_number() RETURNS varchar(8) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    raw bytea;
    result text;
    position int;
BEGIN
    LOOP
        raw := uuid_send(gen_random_uuid());
        result := '';
        FOREACH position IN ARRAY ARRAY[0, 1, 2, 3, 4, 5, 7, 9] LOOP
            result := result || substr('{ALPHABET}', (get_byte(raw, position) & 31) + 1, 1);
        END LOOP;
        -- A repeat is a 1-in-10^12 event per existing number; drawing again keeps inserts from failing on it.
        EXIT WHEN NOT EXISTS (SELECT 1 FROM incidents WHERE tracking_number = result);
    END LOOP;
    RETURN result;
END $$
"""


def upgrade() -> None:
    op.add_column("incidents", sa.Column("tracking_number", sa.String(length=8), nullable=True))
    op.execute(FUNCTION)
    op.execute("UPDATE incidents SET tracking_number = incident_tracking_number()")
    op.alter_column(
        "incidents", "tracking_number", nullable=False, server_default=sa.text("incident_tracking_number()")
    )
    op.create_index("ix_incidents_tracking_number", "incidents", ["tracking_number"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_incidents_tracking_number", table_name="incidents")
    op.drop_column("incidents", "tracking_number")
    op.execute("DROP FUNCTION IF EXISTS incident_tracking_number()")
