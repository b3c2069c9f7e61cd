"""User accounts: roles, argon2 password hashes, sign-in, and the principal a request acts as.

Roles (DOMAIN.md §1): admin, planner, dispatcher, grid_worker, viewer; a request without credentials acts
as the public. Grid workers are users linked to their grids' lineages by `grid_workers` (gis/incidents/workers.py),
so a worker's login and the record `gridmap worker assign` made are one row. Passwords are kept only as
argon2id hashes; a user without one (e.g. a worker created by `worker assign`) cannot sign in with a
password until one is set.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import text, update
from sqlalchemy.orm import Session

from gis import audit
from gis.db.models import User
from gis.errors import Conflict, InvalidInput, NotFound, Unauthorized

ROLES = ("admin", "planner", "dispatcher", "grid_worker", "viewer")
PUBLIC = "public"  # the actor named for requests without credentials
MIN_PASSWORD = 8
# Letters (any script, so 王芳 works), digits and . _ @ -: names appear in logs and in "user:NAME" targets.
_NAME = re.compile(r"^[\w.@-]{1,64}$")
# Actors the platform itself writes into logs: no account may take these names.
RESERVED_NAMES = frozenset({PUBLIC, "anonymous", "open311", "demo", "system"})

_hasher = PasswordHasher()
# Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password")


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a signed-in user, or the public (id None)."""

    id: int | None
    name: str
    role: str
    via: str = "public"  # "password" (an access token from sign-in), "api_token" or "public"
    token_id: int | None = None  # the API token used, if any

    @property
    def authenticated(self) -> bool:
        return self.id is not None

    @property
    def user_id(self) -> int:
        """The account's id, for code past a sign-in check (the public has none: Unauthorized)."""
        if self.id is None:
            raise Unauthorized("sign in first")
        return self.id

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role, "via": self.via}


ANONYMOUS = Principal(id=None, name=PUBLIC, role=PUBLIC)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters", where="password")
    return _hasher.hash(password)


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(f"user name {name!r}: 1–64 letters, digits or . _ @ - (no spaces)", where="name")
    if name.lower() in RESERVED_NAMES:
        raise InvalidInput(f"user name {name!r} is reserved for the platform's own log entries", where="name")
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} is unknown; roles are: {', '.join(ROLES)}", where="role")
    return role


_USER_COLUMNS = """u.id, u.username AS name, u.display_name, u.role, u.active, u.created_at,
    (u.password_hash IS NOT NULL) AS has_password,
    (SELECT COALESCE(array_agg(g.code ORDER BY g.code), '{}') FROM grid_workers w
       JOIN grids g ON g.lineage = w.grid_lineage
       JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published'
     WHERE w.user_id = u.id) AS grids"""


def _user(row: Any) -> dict[str, Any]:
    user = dict(row._mapping)
    user["created_at"] = user["created_at"].isoformat() if isinstance(user["created_at"], datetime) else None
    user["grids"] = list(user["grids"])
    return user


def get_user(session: Session, name: str) -> dict[str, Any]:
    """One account (never its hash): name, role, active, whether it has a password, its grids (workers)."""
    row = session.execute(text(f"SELECT {_USER_COLUMNS} FROM users u WHERE u.username = :name"), {"name": name}).first()
    if row is None:
        raise NotFound(f"user {name!r} does not exist", where="name")
    return _user(row)


def list_users(session: Session) -> list[dict[str, Any]]:
    return [_user(r) for r in session.execute(text(f"SELECT {_USER_COLUMNS} FROM users u ORDER BY u.username"))]


def create_user(
    session: Session,
    name: str,
    role: str,
    *,
    actor: str,
    password: str | None = None,
    display_name: str | None = None,
) -> dict[str, Any]:
    """A new account. A grid worker's grids are linked by `gis.incidents.workers.add_user`, which sits above
    plans (grids are found in the current plan)."""
    _check_name(name)
    _check_role(role)
    password_hash = hash_password(password) if password is not None else None
    user_id = session.execute(
        text("""INSERT INTO users (username, display_name, role, password_hash) VALUES (:name, :display, :role, :hash)
                ON CONFLICT (username) DO NOTHING RETURNING id"""),
        {"name": name, "display": display_name, "role": role, "hash": password_hash},
    ).scalar_one_or_none()
    if user_id is None:
        raise Conflict(f"user {name!r} already exists; change it instead", where="name")
    user = get_user(session, name)
    audit.record(session, actor=actor, action="user.add", target=f"user:{name}", after=_summary(user))
    return user


def change_user(
    session: Session,
    name: str,
    *,
    actor: str,
    role: str | None = None,
    password: str | None = None,
    active: bool | None = None,
    display_name: str | None = None,
) -> dict[str, Any]:
    """Change role, password, active flag or display name; what is None stays as it is.

    A change that would leave no active admin is refused (Conflict naming `role` or `active`): nobody could
    manage accounts any more except on the server's command line.
    """
    if (role is not None and role != "admin") or active is False:
        _keep_an_active_admin(session, name, where="role" if role is not None and role != "admin" else "active")
    before = get_user(session, name)
    values: dict[str, Any] = {}
    if role is not None:
        values["role"] = _check_role(role)
    if active is not None:
        values["active"] = active
    if display_name is not None:
        values["display_name"] = display_name
    if password is not None:
        values["password_hash"] = hash_password(password)
    if not values:
        raise InvalidInput("nothing to change: give role, password, active or display_name", where="body")
    session.execute(
        update(User).where(User.username == name).values(values).execution_options(synchronize_session=False)
    )
    after = get_user(session, name)
    changed = _summary(after) | ({"password": "changed"} if password is not None else {})
    audit.record(
        session, actor=actor, action="user.change", target=f"user:{name}", before=_summary(before), after=changed
    )
    return after


def _keep_an_active_admin(session: Session, name: str, *, where: str) -> None:
    """Refuse demoting or disabling `name` when it is the last active admin.

    The active admins' rows stay locked until the transaction ends, so of two concurrent demotions of the last
    two admins the second waits, then counts again (PostgreSQL re-reads a locked row once it is free) and is refused.
    Locked in id order, so two such changes never deadlock.
    """
    admins = (
        session.execute(text("SELECT username FROM users WHERE role = 'admin' AND active ORDER BY id FOR UPDATE"))
        .scalars()
        .all()
    )
    if admins == [name]:
        raise Conflict(
            f"user {name!r} is the last active admin: make another account an active admin first", where=where
        )


def _summary(user: dict[str, Any]) -> dict[str, Any]:
    """What the audit trail keeps of an account: never a hash or a password."""
    return {k: user[k] for k in ("role", "active", "display_name", "grids") if k in user}


def authenticate(session: Session, name: str, password: str) -> Principal:
    """The active user with this name and password; one message for every failure (no user enumeration)."""
    row = session.execute(
        text("SELECT id, username, role, active, password_hash FROM users WHERE username = :name"), {"name": name}
    ).first()
    refused = Unauthorized("wrong user name or password", where="password")
    if row is None or row.password_hash is None:
        _verify(_DUMMY_HASH, password)
        raise refused
    if not _verify(row.password_hash, password) or not row.active:
        raise refused
    if _hasher.check_needs_rehash(row.password_hash):  # parameters were raised since: upgrade on sign-in
        session.execute(
            text("UPDATE users SET password_hash = :h WHERE id = :id"), {"h": _hasher.hash(password), "id": row.id}
        )
    return Principal(id=row.id, name=row.username, role=row.role, via="password")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def active_principal(session: Session, user_id: int, *, via: str, token_id: int | None = None) -> Principal | None:
    """The user as a principal with the role they have now, or None when gone or disabled."""
    row = session.execute(
        text("SELECT id, username, role FROM users WHERE id = :id AND active"), {"id": user_id}
    ).first()
    if row is None:
        return None
    return Principal(id=row.id, name=row.username, role=row.role, via=via, token_id=token_id)


def ensure_admin(session: Session, *, actor: str, password: str | None = None, name: str = "admin") -> str | None:
    """Create the `admin` account when there is none by that name. Returns the password when one was generated
    (to be shown once), else None (the account existed, or `password` was given)."""
    exists = session.execute(text("SELECT 1 FROM users WHERE username = :name"), {"name": name}).first()
    if exists:
        return None
    generated = password is None
    secret = password if password is not None else secrets.token_urlsafe(12)
    create_user(session, name, "admin", actor=actor, password=secret)
    return secret if generated else None
