"""Who connects to the embedded cluster, and what each role may do.

Three roles, each with a generated password kept in one libpq password file (0600, beside `cluster.json`):

- `postgres`, the superuser: cluster administration only (creating databases and the PostGIS extension);
- `gridmap_owner`: owns every database and the schema in it and runs the migrations;
- `gridmap_app`: what the app connects as — no superuser, no CREATEDB/CREATEROLE, owns nothing; DML on the tables
  it needs, and on `audit_log` only SELECT and INSERT, so the trail stays append-only even if the trigger went.

URLs name the password file (`?passfile=`) rather than a password, so they can be printed and passed to
subprocesses without revealing anything. A configured GRIDMAP_DATABASE_URL carries no such file and is used as given.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from gis.errors import DatabaseUnavailable

ADMIN_ROLE = "postgres"
OWNER_ROLE = "gridmap_owner"
APP_ROLE = "gridmap_app"
ROLES = (ADMIN_ROLE, OWNER_ROLE, APP_ROLE)

HOST = "127.0.0.1"

# The app may only add to and read these (the audit trail).
APPEND_ONLY = frozenset({"audit_log"})
# Tables the app rewrites whole with TRUNCATE. None now: coverage runs replace a few rows of arrays with DELETE
# (gis/coverage/reach_store.py), which keeps the old figures readable until the run commits.
TRUNCATED_BY_APP: frozenset[str] = frozenset()
# `<table>_history` is written by statement triggers that run as the invoker (migration 0008): the app adds and
# closes versions through them, but never deletes one.
HISTORY_SUFFIX = "_history"

# Serialises grant runs of concurrent upgrades (GRANT on one object from two sessions: "tuple concurrently updated").
_GRANTS_LOCK = 0x67726E74  # "grnt"


def plain_dsn(url: str) -> str:
    """A libpq DSN from an SQLAlchemy URL (drops the +driver suffix)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def new_password() -> str:
    # URL-safe alphabet: no ':' or '\\', which the password file would need escaped.
    return secrets.token_urlsafe(32)


def _entries(path: Path) -> list[list[str]]:
    """The `host:port:database:role:password` lines of a password file this module wrote."""
    if not path.exists():
        return []
    return [parts for parts in (line.split(":") for line in path.read_text().splitlines()) if len(parts) == 5]


def read_passfile(path: Path) -> dict[str, str]:
    """Role → password."""
    return {parts[3]: parts[4] for parts in _entries(path)}


def passfile_roles(path: Path, port: int) -> set[str]:
    """The roles the file gives a password for on `port`."""
    return {parts[3] for parts in _entries(path) if parts[1] == str(port)}


def embedded_roles(url: str) -> set[str]:
    """The roles the password file named by `url` (`?passfile=`) holds for its port: empty for any other URL."""
    parsed = make_url(url)
    passfile = parsed.query.get("passfile")
    if not isinstance(passfile, str) or parsed.port is None:
        return set()
    return passfile_roles(Path(passfile), parsed.port)


def write_passfile(path: Path, port: int, passwords: dict[str, str]) -> None:
    """Write the password file readable by its owner alone (libpq ignores a file others can read)."""
    lines = [f"{HOST}:{port}:*:{role}:{password}" for role, password in passwords.items()]
    temporary = path.with_name(path.name + ".new")
    temporary.unlink(missing_ok=True)
    # Created 0600, never wider, then moved into place: no moment at which another user could open it.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write("\n".join(lines) + "\n")
    os.replace(temporary, path)


def _strict_auth() -> str:
    # Refuse any server that asks for less than SCRAM (an impostor on our port would otherwise be sent the
    # password in clear). `require_auth` exists from libpq 16 on; older client libraries cannot ask for it.
    return "&require_auth=scram-sha-256" if psycopg.pq.version() >= 160000 else ""


def cluster_url(port: int, database: str, role: str, passfile: str, *, strict: bool = True) -> str:
    """The SQLAlchemy URL of `role` on the embedded cluster; the password comes from `passfile`. Not `strict`:
    also accepts a server that does not ask for a password (a cluster from before roles, being secured)."""
    required = _strict_auth() if strict else ""
    return f"postgresql+psycopg://{role}@{HOST}:{port}/{database}?passfile={passfile}{required}"


def with_role(url: str, role: str) -> str:
    """`url` connecting as `role` instead, when its password file holds that role (the embedded cluster);
    any other URL unchanged — a configured GRIDMAP_DATABASE_URL does everything as given."""
    parsed = make_url(url)
    if parsed.username == role or role not in embedded_roles(url):
        return url
    return parsed.set(username=role).render_as_string(hide_password=False)


def role_of(url: str) -> str | None:
    return make_url(url).username


def scram_verifier(conn: psycopg.Connection, role: str, password: str) -> str:
    """The SCRAM verifier of a password, computed by the client: the clear password never reaches the server's
    statement log."""
    return conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()


def ensure_roles(conn: psycopg.Connection, passwords: dict[str, str]) -> None:
    """Create (or reset) the owner and app roles and give every role its password from the file (as superuser)."""
    attributes = {
        OWNER_ROLE: "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
        APP_ROLE: "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
    }
    for role, attrs in attributes.items():
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("ALTER ROLE {} " + attrs).format(sql.Identifier(role)))
    for role in ROLES:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(scram_verifier(conn, role, passwords[role]))
            )
        )


def transfer_ownership(conn: psycopg.Connection, owner: str = OWNER_ROLE) -> int:
    """Hand the database and everything the superuser made in its `public` schema (a cluster provisioned before
    roles existed ran the migrations as `postgres`) to the owner role; extension objects stay. Returns the count."""
    db = conn.execute("SELECT current_database()").fetchone()
    assert db is not None
    conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(db[0]), sql.Identifier(owner)))
    objects = conn.execute(
        """SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                 WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
                  c.oid::regclass::text
           FROM pg_class c
           WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
             AND pg_get_userbyid(c.relowner) <> %(owner)s
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                             AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i'))))
           UNION ALL
           SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
                  p.oid::regprocedure::text
           FROM pg_proc p
           WHERE p.pronamespace = 'public'::regnamespace AND pg_get_userbyid(p.proowner) <> %(owner)s
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                             AND d.deptype = 'e')
           UNION ALL
           SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype::text
           FROM pg_type t
           WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd', 'r', 'm')
             AND pg_get_userbyid(t.typowner) <> %(owner)s
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                             AND d.deptype = 'e')""",
        {"owner": owner},
    ).fetchall()
    for kind, name in objects:
        # Names come from regclass/regprocedure/regtype output: already quoted where they need it.
        conn.execute(sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(kind), sql.SQL(name), sql.Identifier(owner)))
    return len(objects)


def table_privileges(name: str, kind: str) -> str:
    """What the app role may do on one of the owner's relations."""
    if kind in ("v", "m"):
        return "SELECT"
    if name in APPEND_ONLY:
        return "SELECT, INSERT"
    if name.endswith(HISTORY_SUFFIX):
        return "SELECT, INSERT, UPDATE"
    if name in TRUNCATED_BY_APP:
        return "SELECT, INSERT, UPDATE, DELETE, TRUNCATE"
    return "SELECT, INSERT, UPDATE, DELETE"


def apply_grants(owner_url: str, app_role: str = APP_ROLE) -> None:
    """(Re)grant the app role exactly its privileges on the owner's objects in this database. Idempotent: run after
    every upgrade, so tables a migration adds (or re-creates) get theirs; default privileges cover the rest."""
    with psycopg.connect(plain_dsn(owner_url), connect_timeout=10) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_GRANTS_LOCK,))
        owner, database = conn.execute("SELECT current_user, current_database()").fetchone() or ("", "")
        app = sql.Identifier(app_role)
        db = sql.Identifier(database)
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
        conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(db, app))
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(app))
        relations = conn.execute(
            """SELECT c.relname, c.relkind FROM pg_class c
               WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
                 AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
               ORDER BY c.relname"""
        ).fetchall()
        for name, kind in relations:
            relation = sql.Identifier(name)
            if kind == "S":
                # nextval() for ids (identity and serial columns, and imports that reuse a retired row's id).
                conn.execute(sql.SQL("REVOKE ALL ON SEQUENCE {} FROM {}").format(relation, app))
                conn.execute(sql.SQL("GRANT USAGE, SELECT ON SEQUENCE {} TO {}").format(relation, app))
                continue
            conn.execute(sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(relation, app))
            conn.execute(
                sql.SQL("GRANT {} ON TABLE {} TO {}").format(sql.SQL(table_privileges(name, kind)), relation, app)
            )
        functions = conn.execute(
            """SELECT p.oid::regprocedure::text FROM pg_proc p
               WHERE p.pronamespace = 'public'::regnamespace
                 AND p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"""
        ).fetchall()
        for (function,) in functions:
            conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(function), app))
        # Objects a later migration creates get the everyday privileges at once; the next grant run narrows them.
        defaults = sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT {} TO {}")
        for what in ("SELECT, INSERT, UPDATE, DELETE ON TABLES", "USAGE, SELECT ON SEQUENCES", "EXECUTE ON FUNCTIONS"):
            conn.execute(defaults.format(sql.Identifier(owner), sql.SQL(what), app))


def is_superuser(url: str) -> tuple[str, bool]:
    """The role `url` connects as and whether it is a superuser."""
    try:
        with psycopg.connect(plain_dsn(url), connect_timeout=10) as conn:
            row = conn.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    except psycopg.Error as exc:
        raise DatabaseUnavailable(f"cannot ask the database which role the app uses: {exc}") from exc
    assert row is not None
    return str(row[0]), bool(row[1])
