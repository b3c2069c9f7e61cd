"""plan bands: every plan has a household band (issue 17)

Plans imported or loaded before had none (NULL at both ends) until someone balanced them, so an out-of-band grid
went unreported. They get the default band of gis/settings.py (300–500); plans with a band keep theirs.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-14 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """UPDATE grid_plans SET min_households = COALESCE(min_households, 300),
                                 max_households = COALESCE(max_households, 500)
           WHERE min_households IS NULL OR max_households IS NULL"""
    )


def downgrade() -> None:
    pass  # a band that was backfilled cannot be told from one a planner set
