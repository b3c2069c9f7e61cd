"""Signed-in test users: an account of any role and the Authorization headers of its access token."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.auth.tokens import issue_access_token
from gis.auth.users import Principal
from gis.incidents.workers import add_user


def headers_for(
    session: Session, signing_key: str, role: str, name: str | None = None, grids: tuple[str, ...] = ()
) -> dict[str, str]:
    """Headers of user `name` (default `test-ROLE`, created with `grids` when missing) with a fresh token."""
    name = name or f"test-{role.replace('_', '-')}"
    found = session.execute(text("SELECT id, role FROM users WHERE username = :n"), {"n": name}).first()
    if found is None:
        user_id = add_user(session, name, role, actor="test", grids=grids, display_name="测试用户")["id"]
    else:
        assert found.role == role, f"user {name} exists as {found.role}, not {role}"
        user_id = found.id
    issued = issue_access_token(Principal(user_id, name, role), signing_key, ttl_minutes=60)
    return {"Authorization": f"Bearer {issued['access_token']}"}
