"""leader role: a read-only account for the leaders' dashboard (/maps/dashboard, issue 17)

Leaders (领导) read the dashboard's figures and nothing else a viewer could not; the users' role CHECK gains
`leader`. Downgrading turns leaders into viewers first, so the old constraint holds.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-14 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

OLD = "role IN ('admin', 'planner', 'dispatcher', 'grid_worker', 'viewer')"
NEW = "role IN ('admin', 'planner', 'dispatcher', 'grid_worker', 'viewer', 'leader')"


def upgrade() -> None:
    op.drop_constraint("user_role", "users", type_="check")
    op.create_check_constraint("user_role", "users", NEW)


def downgrade() -> None:
    op.execute("UPDATE users SET role = 'viewer' WHERE role = 'leader'")
    op.drop_constraint("user_role", "users", type_="check")
    op.create_check_constraint("user_role", "users", OLD)
