"""sessions and display names: token revocation, per-account sign-in backoff, a public name for every account

- `users.token_generation`: every access token carries the generation it was issued under; a password change,
  disabling or re-enabling the account, or signing out everywhere counts it up, so older tokens stop at once.
- `revoked_access_tokens`: single access tokens ended by signing out (kept until they would have expired).
- `sign_in_failures`: failed sign-ins per login name (its sha256, whether or not such an account exists), so
  every server process shares the backoff.
- `users.display_name` is required: public answers name staff by it, never by their login. Accounts without one
  get their role's label and id ("网格员 12"), never the login.
- API tokens of accounts disabled now are revoked, as disabling does from now on: re-enabling does not revive them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-12 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# gis.auth.users.ROLE_LABELS as it was when this revision was written (migrations never import the app).
ROLE_LABELS = {
    "admin": "管理员",
    "planner": "网格管理员",
    "dispatcher": "调度员",
    "grid_worker": "网格员",
    "viewer": "查看员",
}


def upgrade() -> None:
    op.add_column("users", sa.Column("token_generation", sa.Integer(), server_default=sa.text("0"), nullable=False))
    labels = " ".join(f"WHEN '{role}' THEN '{label}'" for role, label in ROLE_LABELS.items())
    op.execute(
        f"""UPDATE users SET display_name = (CASE role {labels} ELSE role END) || ' ' || id
            WHERE display_name IS NULL OR btrim(display_name) = '' OR display_name = username"""
    )
    op.alter_column("users", "display_name", nullable=False)
    op.create_check_constraint("user_display_name_not_blank", "users", "btrim(display_name) <> ''")
    op.execute("UPDATE api_tokens t SET revoked_at = now() FROM users u WHERE u.id = t.user_id AND NOT u.active "
               "AND t.revoked_at IS NULL")  # fmt: skip

    op.create_table(
        "revoked_access_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index("ix_revoked_access_tokens_expires_at", "revoked_access_tokens", ["expires_at"])
    op.create_table(
        "sign_in_failures",
        # sha256 of the login name as typed: no account need exist, and a password typed into the name field
        # is not kept.
        sa.Column("login_key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("failures > 0", name="sign_in_failures_positive"),
        sa.PrimaryKeyConstraint("login_key"),
    )
    op.create_index("ix_sign_in_failures_last_failed_at", "sign_in_failures", ["last_failed_at"])


def downgrade() -> None:
    op.drop_table("sign_in_failures")
    op.drop_table("revoked_access_tokens")
    op.drop_constraint("user_display_name_not_blank", "users", type_="check")
    op.alter_column("users", "display_name", nullable=True)
    op.drop_column("users", "token_generation")
