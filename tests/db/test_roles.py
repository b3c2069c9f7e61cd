"""The embedded cluster is least-privilege: other OS users cannot connect, the app is not a superuser and may only
append to the audit log, and a cluster from before roles is secured in place without losing its data.

These run on the suite's own embedded cluster when GRIDMAP_DATABASE_URL is unset (as in CI); with a configured
URL they provision a private cluster of their own, so they prove the same things everywhere."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from gis.db.cluster import (
    Cluster,
    EmbeddedCluster,
    _chown_to_server,
    _find_bin_dir,
    _next_free_port,
    _run,
    ensure_database,
    plain_dsn,
)
from gis.db.engine import upgrade
from gis.db.roles import (
    ADMIN_ROLE,
    APP_ROLE,
    OWNER_ROLE,
    embedded_roles,
    read_passfile,
    table_privileges,
    with_role,
    write_passfile,
)
from gis.settings import Settings

GRIDMAP = str(Path(sys.executable).parent / "gridmap")


def _open_dir(prefix: str) -> Path:
    """A directory the server's OS user can enter (pytest's tmp_path sits under a private one when run as root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def cluster(settings: Settings) -> Iterator[Cluster]:
    """The suite's embedded cluster, or (with a configured URL) a private one stopped and removed afterwards."""
    if not settings.database_url:
        yield EmbeddedCluster(settings).ensure_running()
        return
    home = _open_dir("gridmap-roles-")
    embedded = EmbeddedCluster(Settings(database_url=None, home=home / ".gridmap", pg_port=55600))
    try:
        yield embedded.ensure_running()
    finally:
        embedded.stop()
        shutil.rmtree(home)


@pytest.fixture(scope="module")
def app_url(cluster: Cluster, settings: Settings) -> str:
    """A migrated database on the cluster, as the app connects to it."""
    name = f"{settings.database_name}_test_roles"
    ensure_database(cluster.url("postgres"), name, recreate=True)  # the app's URL: elevated for the creation
    url = cluster.url(name)
    upgrade(url)
    return url


def as_app(url: str, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(plain_dsn(url)) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def refused(url: str, statement: str) -> str:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        as_app(url, statement)
    return str(caught.value)


# -- other OS users ------------------------------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can act as another OS user (CI runs as root)")
def test_another_os_user_cannot_connect(cluster: Cluster) -> None:
    def select_one(*runner: str, env: dict[str, str] | None = None, host: str = "127.0.0.1") -> tuple[int, str]:
        psql = [str(Path(cluster.bin_dir) / "psql"), "-h", host, "-p", str(cluster.port), "-U", ADMIN_ROLE]
        done = subprocess.run(
            [*runner, *psql, "-d", "postgres", "-w", "-Atc", "SELECT 1"],
            capture_output=True, text=True, timeout=60, check=False, cwd="/", env=env,
        )  # fmt: skip
        return done.returncode, done.stdout + done.stderr

    nobody = ("runuser", "-u", "nobody", "--")
    code, said = select_one(*nobody)
    assert code != 0 and "password" in said, said
    code, said = select_one(*nobody, host=cluster.socket_dir)
    assert code != 0 and "ermission denied" in said, said
    read = subprocess.run([*nobody, "cat", cluster.passfile], capture_output=True, text=True, check=False)
    assert read.returncode != 0 and read.stdout == ""
    # The same command by the owner of the password file gets in: what stops nobody is the password.
    code, said = select_one(env={**os.environ, "PGPASSFILE": cluster.passfile})
    assert (code, said.strip()) == (0, "1"), said


def test_files_and_directories_are_closed_to_other_users(cluster: Cluster) -> None:
    for path in (Path(cluster.data_dir), Path(cluster.socket_dir), Path(cluster.data_dir).parent):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    assert stat.S_IMODE(Path(cluster.passfile).stat().st_mode) == 0o600
    hba = [line.split() for line in Path(cluster.data_dir, "pg_hba.conf").read_text().splitlines() if line.strip()]
    methods = {fields[-1] for fields in hba if not fields[0].startswith("#")}
    assert methods == {"scram-sha-256"}


# -- what the app role may do ------------------------------------------------------------------------------------


def test_the_app_role_is_no_superuser_and_owns_nothing(app_url: str) -> None:
    ((role, superuser, createdb, createrole, owned),) = as_app(
        app_url,
        """SELECT rolname, rolsuper, rolcreatedb, rolcreaterole,
                  (SELECT count(*) FROM pg_class WHERE relowner = r.oid)
                + (SELECT count(*) FROM pg_database WHERE datdba = r.oid)
           FROM pg_roles r WHERE rolname = current_user""",
    )
    assert (role, superuser, createdb, createrole, owned) == (APP_ROLE, False, False, False, 0)
    ((tables_owner,),) = as_app(
        app_url, "SELECT DISTINCT tableowner FROM pg_tables WHERE tablename IN ('audit_log', 'buildings', 'meta')"
    )
    assert tables_owner == OWNER_ROLE


def test_the_audit_log_is_append_only_for_the_app(app_url: str) -> None:
    (entry,) = as_app(app_url, "INSERT INTO audit_log (actor, action) VALUES ('tester', 'test.append') RETURNING id")
    assert as_app(app_url, "SELECT actor FROM audit_log WHERE id = %s", entry) == [("tester",)]
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        assert "audit_log" in refused(app_url, statement)
    # The trigger's bypass is for superusers only.
    assert "session_replication_role" in refused(app_url, "SET session_replication_role = replica")
    assert "public" in refused(app_url, "CREATE TABLE mine (a int)")
    assert "audit_log" in refused(app_url, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")


def test_the_app_reads_the_signing_key_and_does_its_runtime_work(app_url: str) -> None:
    as_app(app_url, "SELECT count(*) FROM meta")  # tokens are verified with the key kept there
    with psycopg.connect(plain_dsn(app_url)) as conn:
        # What imports and coverage runs do as the app: temporary tables, ANALYZE them, COPY, TRUNCATE, GUCs.
        conn.execute("CREATE TEMP TABLE stage (code text) ON COMMIT DROP")
        conn.execute("CREATE INDEX ON stage (code)")
        with conn.cursor().copy("COPY stage (code) FROM STDIN") as copy:
            copy.write_row(("a",))
        conn.execute("ANALYZE stage")
        conn.execute("DELETE FROM coverage_reach")
        conn.execute("SELECT set_config('gridmap.batch_id', '', true), pg_advisory_xact_lock(1)")


def test_history_is_written_through_the_triggers_but_never_deleted_by_the_app(app_url: str) -> None:
    boundary = "ST_Multi(ST_MakeEnvelope(121.0, 29.0, 121.1, 29.1, 4326))"
    ((district,),) = as_app(
        app_url, f"INSERT INTO districts (code, name, boundary) VALUES ('330299', '旧名', {boundary}) RETURNING id"
    )
    as_app(app_url, "UPDATE districts SET name = '新名' WHERE id = %s", (district,))
    as_app(app_url, "DELETE FROM districts WHERE id = %s", (district,))
    versions = as_app(
        app_url, "SELECT name, valid_to IS NOT NULL FROM districts_history WHERE id = %s ORDER BY version", (district,)
    )
    assert versions == [("旧名", True), ("新名", True)]
    assert "districts_history" in refused(app_url, "DELETE FROM districts_history")
    assert "districts_history" in refused(app_url, "TRUNCATE districts_history")


def test_grants_reach_tables_a_later_migration_adds(cluster: Cluster, app_url: str) -> None:
    owner = with_role(app_url, OWNER_ROLE)
    as_app(owner, "CREATE TABLE later_table (id int)")
    try:
        as_app(app_url, "INSERT INTO later_table VALUES (1)")
        assert as_app(app_url, "SELECT id FROM later_table") == [(1,)]
        upgrade(app_url)  # every upgrade re-applies the grants: idempotent
        assert as_app(app_url, "SELECT count(*) FROM later_table") == [(1,)]
    finally:
        as_app(owner, "DROP TABLE later_table")


def test_privileges_by_kind_of_table() -> None:
    assert table_privileges("audit_log", "r") == "SELECT, INSERT"
    assert table_privileges("buildings_history", "r") == "SELECT, INSERT, UPDATE"
    assert "TRUNCATE" not in table_privileges("coverage_reach", "r")
    assert "TRUNCATE" not in table_privileges("buildings", "r")
    assert table_privileges("coverage_view", "v") == "SELECT"


# -- URLs ----------------------------------------------------------------------------------------------------------


def test_a_configured_url_is_used_as_given(tmp_path: Path) -> None:
    configured = "postgresql+psycopg://postgres@127.0.0.1:5432/gridmap"
    assert with_role(configured, OWNER_ROLE) == configured and embedded_roles(configured) == set()
    passfile = tmp_path / "pgpass"
    write_passfile(passfile, 5999, {ADMIN_ROLE: "a", OWNER_ROLE: "o", APP_ROLE: "p"})
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600 and read_passfile(passfile)[OWNER_ROLE] == "o"
    app = f"postgresql+psycopg://{APP_ROLE}@127.0.0.1:5999/gridmap?passfile={passfile}"
    assert with_role(app, OWNER_ROLE).startswith(f"postgresql+psycopg://{OWNER_ROLE}@127.0.0.1:5999/gridmap?")
    # A file written for another port (the cluster moved) does not count.
    assert with_role(app.replace("5999", "6000"), OWNER_ROLE) == app.replace("5999", "6000")


def test_db_status_names_the_app_role_and_warns_of_a_superuser(
    app_url: str, engine: Engine, settings: Settings
) -> None:
    def status(url: str) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "GRIDMAP_DATABASE_URL": url, "COLUMNS": "200"}
        return subprocess.run(
            [GRIDMAP, "db", "status"], capture_output=True, text=True, env=environment, timeout=120, check=False
        )

    # A configured URL (as given: `postgres` on a system server) or the embedded cluster's administrator.
    configured = engine.url.render_as_string(hide_password=False) if settings.database_url else None
    superuser = status(configured or with_role(app_url, ADMIN_ROLE))
    assert superuser.returncode == 0, superuser.stderr
    assert "(superuser)" in superuser.stdout and "warning:" in superuser.stdout
    app = status(app_url)
    assert app.returncode == 0, app.stderr
    assert f"app role: {APP_ROLE}" in app.stdout and "warning" not in app.stdout


# -- a cluster from before roles ---------------------------------------------------------------------------------


def test_a_trusting_cluster_from_an_earlier_version_is_secured_in_place() -> None:
    home = _open_dir("gridmap-old-")
    settings = Settings(database_url=None, home=home / ".gridmap", pg_port=55650)
    embedded = EmbeddedCluster(settings)
    try:
        # What earlier versions provisioned: trust on every local connection, everything owned by `postgres`,
        # directories open, a record without a password file.
        base = embedded._base_dir()
        old = Cluster(
            data_dir=str(base / "pg"),
            socket_dir=str(base / "run"),
            port=_next_free_port(settings.pg_port),
            bin_dir=str(_find_bin_dir()),
            database=settings.database_name,
        )
        for path in (base, Path(old.socket_dir), Path(old.data_dir)):
            path.mkdir(parents=True, mode=0o755)
            _chown_to_server(path)
        Path(old.data_dir).chmod(0o700)
        initdb = [
            f"{old.bin_dir}/initdb",
            "-D",
            old.data_dir,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ]
        assert _run(initdb, as_server=True).returncode == 0
        record = {k: v for k, v in dataclasses.asdict(old).items() if k not in ("passfile", "secured")}
        embedded.record.write_text(json.dumps(record))
        embedded._start(old)
        trusting = f"postgresql://postgres@127.0.0.1:{old.port}"
        with psycopg.connect(f"{trusting}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE gridmap")
        with psycopg.connect(f"{trusting}/gridmap") as conn:
            conn.execute("CREATE TABLE kept (id serial PRIMARY KEY, name text)")
            conn.execute("INSERT INTO kept (name) VALUES ('data from before')")

        cluster = embedded.ensure_running()

        assert cluster.secured and stat.S_IMODE(Path(cluster.passfile).stat().st_mode) == 0o600
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(f"{trusting}/gridmap", connect_timeout=10).close()  # no password: refused now
        assert as_app(cluster.url(), "SELECT name FROM kept") == [("data from before",)]
        assert as_app(cluster.url(), "INSERT INTO kept (name) VALUES ('new') RETURNING id") == [(2,)]
        assert as_app(cluster.url(), "SELECT tableowner FROM pg_tables WHERE tablename = 'kept'") == [(OWNER_ROLE,)]
        assert as_app(cluster.url(), "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == [(False,)]
        for path in (base, Path(cluster.socket_dir)):
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0

        # Its port taken while it was stopped: it moves, and the password file follows it.
        embedded.stop()
        with socket.socket() as taken:
            # Listening, as another server would; SO_REUSEADDR because the connections the server just closed may
            # leave its port in TIME_WAIT, which a plain bind counts as taken on some kernels' timing.
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            taken.bind(("127.0.0.1", cluster.port))
            taken.listen()
            moved = embedded.ensure_running()
        assert moved.port != cluster.port
        assert as_app(moved.url(), "SELECT name FROM kept ORDER BY id") == [("data from before",), ("new",)]
    finally:
        embedded.stop()
        shutil.rmtree(home, ignore_errors=True)
