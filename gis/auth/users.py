"""User accounts: roles, argon2 password hashes, sign-in, and the principal a request acts as.

Roles (DOMAIN.md §1): admin, planner, dispatcher, grid_worker, viewer, leader; a request without credentials acts
as the public. Grid workers are users linked to their grids' lineages by `grid_workers` (gis/incidents/workers.py),
so a worker's login and the record `gridmap worker assign` made are one row. Passwords are kept only as
argon2id hashes; a user without one (e.g. a worker created by `worker assign`) cannot sign in with a
password until one is set.

The login is for staff: answers the public gets name an account by its display name (required for grid workers,
their role's label and id when none was given, e.g. "网格员 12"), never by its login (`public_names`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
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

ROLES = ("admin", "planner", "dispatcher", "grid_worker", "viewer", "leader")
PUBLIC = "public"  # the actor named for requests without credentials
MIN_PASSWORD = 8
# Letters (any script, so 王芳 works), digits and . _ @ -: names appear in logs and in "user:NAME" targets.
_NAME = re.compile(r"^[\w.@-]{1,64}$")
# Actors the platform itself writes into logs: no account may take these names.
RESERVED_NAMES = frozenset({PUBLIC, "anonymous", "open311", "demo", "system"})
# How the public sees an account with no display name of its own ("网格员 12"); migration 0009 keeps a copy.
ROLE_LABELS = {
    "admin": "管理员",
    "planner": "网格管理员",
    "dispatcher": "调度员",
    "grid_worker": "网格员",
    "viewer": "查看员",
    "leader": "领导",
}
MAX_DISPLAY_NAME = 200
# Public names of actors that are no account: commands run on the server (`cli:OSUSER` names an OS login).
CLI_ACTOR_PREFIX = "cli:"
CLI_PUBLIC_NAME = "命令行"
UNKNOWN_PUBLIC_NAME = "工作人员"

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
    generation: int = 0  # the account's token generation: access tokens issued under an older one are refused

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


def check_display_name(display_name: str, name: str) -> str:
    """The display name, trimmed: not blank, and not the login (the public sees it; the login stays staff's)."""
    shown = display_name.strip()
    if not shown or len(shown) > MAX_DISPLAY_NAME:
        raise InvalidInput(f"display_name: 1–{MAX_DISPLAY_NAME} characters, not only spaces", where="display_name")
    if shown.casefold() == name.casefold():
        raise InvalidInput(
            "display_name: the public sees it, so it must not be the login name; give the person's name",
            where="display_name",
        )
    return shown


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
    plans (grids are found in the current plan).

    A grid worker needs a display name (residents see it as the person responsible for their grid); other
    accounts without one are shown as their role's label and id ("调度员 7").
    """
    _check_name(name)
    _check_role(role)
    if display_name is not None:
        display_name = check_display_name(display_name, name)
    elif role == "grid_worker":
        raise InvalidInput(
            "display_name: a grid worker needs a display name (the public sees it, never the login)",
            where="display_name",
        )
    password_hash = hash_password(password) if password is not None else None
    # The id is drawn first so that the default display name can carry it, in the same statement.
    user_id = session.execute(
        text("""INSERT INTO users (id, username, display_name, role, password_hash)
                SELECT n, :name, COALESCE(:display, :label || ' ' || n), :role, :hash
                FROM (SELECT nextval(pg_get_serial_sequence('users', 'id')) AS n) AS next_id
                ON CONFLICT (username) DO NOTHING RETURNING id"""),
        {"name": name, "display": display_name, "label": ROLE_LABELS[role], "role": role, "hash": password_hash},
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

    A new password, disabling and re-enabling end every access token issued before (the token generation
    counts up): a leaked token or a stolen session dies with the change, not hours later. Disabling also
    revokes the account's API tokens for good: enabling it again does not bring them back.
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
        values["display_name"] = check_display_name(display_name, name)
    if password is not None:
        values["password_hash"] = hash_password(password)
    if not values:
        raise InvalidInput("nothing to change: give role, password, active or display_name", where="body")
    ends_sessions = password is not None or (active is not None and active != before["active"])
    if ends_sessions:
        values["token_generation"] = User.token_generation + 1
    session.execute(
        update(User).where(User.username == name).values(values).execution_options(synchronize_session=False)
    )
    revoked = 0
    if active is False and before["active"]:
        revoked = len(
            session.execute(
                text("""UPDATE api_tokens SET revoked_at = now() WHERE user_id = :id AND revoked_at IS NULL
                        RETURNING id"""),
                {"id": before["id"]},
            ).all()
        )
    after = get_user(session, name)
    changed = (
        _summary(after)
        | ({"password": "changed"} if password is not None else {})
        | ({"sessions": "ended"} if ends_sessions else {})
        | ({"api_tokens_revoked": revoked} if revoked else {})
    )
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
        text("SELECT id, username, role, active, password_hash, token_generation FROM users WHERE username = :name"),
        {"name": name},
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
    return Principal(id=row.id, name=row.username, role=row.role, via="password", generation=row.token_generation)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def active_principal(session: Session, user_id: int, *, via: str, token_id: int | None = None) -> Principal | None:
    """The user as a principal with the role (and token generation) they have now, or None when gone or disabled."""
    row = session.execute(
        text("SELECT id, username, role, token_generation FROM users WHERE id = :id AND active"), {"id": user_id}
    ).first()
    if row is None:
        return None
    return Principal(
        id=row.id, name=row.username, role=row.role, via=via, token_id=token_id, generation=row.token_generation
    )


def end_sessions(session: Session, user_id: int) -> None:
    """End every access token the account holds (count its token generation up); API tokens are untouched."""
    session.execute(text("UPDATE users SET token_generation = token_generation + 1 WHERE id = :id"), {"id": user_id})


def public_names(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """How the public sees each actor a log names: an account by its display name, never its login; the
    platform's own actors ("public", "open311", "system") as they are; a command run on the server as "命令行"
    (`cli:USER` names an OS login); anything else as "工作人员"."""
    wanted = set(actors)
    accounts: dict[str, str] = dict(
        session.execute(
            text("SELECT username, display_name FROM users WHERE username = ANY(:names)"), {"names": sorted(wanted)}
        ).all()
    )
    shown: dict[str, str] = {}
    for actor in wanted:
        if actor in accounts:
            shown[actor] = accounts[actor]
        elif actor.lower() in RESERVED_NAMES:
            shown[actor] = actor
        elif actor.startswith(CLI_ACTOR_PREFIX):
            shown[actor] = CLI_PUBLIC_NAME
        else:
            shown[actor] = UNKNOWN_PUBLIC_NAME
    return shown


def with_public_actors(session: Session, rows: list[dict[str, Any]], key: str = "actor") -> list[dict[str, Any]]:
    """`rows` (log entries) with the actor under `key` replaced by its public name (`public_names`)."""
    shown = public_names(session, (row[key] for row in rows if row.get(key) is not None))
    return [row | {key: shown[row[key]]} if row.get(key) is not None else row for row in rows]


def actors_for(session: Session, principal: Principal, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Log entries as `principal` may see them: signed-in staff see logins, the public sees public names."""
    return rows if principal.authenticated else with_public_actors(session, rows)


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
