"""The embedded PostgreSQL + PostGIS cluster: provisioned on first use when GRIDMAP_DATABASE_URL is unset.

The cluster lives under `<home>/pg` (home defaults to `.gridmap` in the checkout) and listens on
127.0.0.1:55432. When running as root the server runs as the `postgres` OS user, which must be able to
enter the data directory: if the checkout sits under a private directory (e.g. /root), the cluster is
kept under /var/tmp instead and `<home>/cluster.json` records where. When port 55432 is taken by
another cluster (a second checkout on the same machine), the next free port is used and recorded.

It is least-privilege (gis/db/roles.py): every connection proves a SCRAM password, kept in `<home>/pgpass`
(0600); the data, log and socket directories are closed to other OS users; the app connects as a
non-superuser role. A cluster provisioned before that (trust authentication, everything owned by `postgres`)
is secured in place the first time it is used: passwords set, roles created, ownership handed over, reloaded.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from gis.db.roles import (
    ADMIN_ROLE,
    APP_ROLE,
    OWNER_ROLE,
    ROLES,
    apply_grants,
    embedded_roles,
    ensure_roles,
    new_password,
    passfile_roles,
    plain_dsn,
    read_passfile,
    transfer_ownership,
    with_role,
    write_passfile,
)
from gis.db.roles import cluster_url as _cluster_url
from gis.errors import DatabaseUnavailable
from gis.settings import Settings

__all__ = ["Cluster", "EmbeddedCluster", "ensure_database", "plain_dsn", "redact_url"]

SERVER_USER = "postgres"  # the OS user the server runs as when gridmap runs as root

# Every connection proves a password; the socket directory (0700) already keeps other OS users off the socket.
PG_HBA = """# Written by gridmap (gis/db/cluster.py): every connection, socket or TCP, proves a SCRAM password.
local   all   all                 scram-sha-256
host    all   all   127.0.0.1/32  scram-sha-256
host    all   all   ::1/128       scram-sha-256
"""


@dataclass
class Cluster:
    data_dir: str
    socket_dir: str
    port: int
    bin_dir: str
    database: str
    # Absent from records written before roles existed: such a cluster is secured when next used.
    passfile: str = ""
    secured: bool = False

    @property
    def base_dir(self) -> Path:
        return Path(self.data_dir).parent

    @property
    def log_file(self) -> str:
        return str(self.base_dir / "postgres.log")

    def url(self, database: str | None = None, role: str = APP_ROLE, *, strict: bool = True) -> str:
        """The URL of `role` (the app's by default) on database `database` (the app's by default)."""
        return _cluster_url(self.port, database or self.database, role, self.passfile, strict=strict)


def _as_root() -> bool:
    return os.geteuid() == 0


def _server_can_enter(path: Path) -> bool:
    """True when the `postgres` user can traverse every ancestor of `path` (root only matters)."""
    if not _as_root():
        return True
    try:
        server = pwd.getpwnam(SERVER_USER)
    except KeyError as exc:
        raise DatabaseUnavailable(f"running as root but there is no {SERVER_USER!r} OS user to run the server") from exc
    for parent in [path, *path.parents]:
        if not parent.exists():
            continue
        mode = parent.stat()
        if mode.st_uid == server.pw_uid:
            continue
        if not mode.st_mode & stat.S_IXOTH:
            return False
    return True


def _find_bin_dir() -> Path:
    """The newest installed PostgreSQL whose share directory has PostGIS."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    with_postgis = [
        c
        for c in candidates
        if (Path("/usr/share/postgresql") / c.parent.parent.name / "extension" / "postgis.control").exists()
    ]
    chosen = with_postgis or candidates
    if chosen:
        return chosen[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise DatabaseUnavailable(
        "no PostgreSQL server binaries found (initdb): install PostgreSQL and PostGIS "
        "(Debian: apt-get install postgresql postgresql-15-postgis-3) or set GRIDMAP_DATABASE_URL"
    )


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _next_free_port(start: int) -> int:
    for port in range(start, start + 100):
        if _port_free(port):
            return port
    raise DatabaseUnavailable(f"no free TCP port in {start}..{start + 99} for the embedded cluster")


def _run(args: list[str], *, as_server: bool) -> subprocess.CompletedProcess[str]:
    if as_server and _as_root():
        args = ["runuser", "-u", SERVER_USER, "--", *args]
    return subprocess.run(args, capture_output=True, text=True, check=False)


def _chown_to_server(path: Path) -> None:
    if _as_root():
        server = pwd.getpwnam(SERVER_USER)
        os.chown(path, server.pw_uid, server.pw_gid)


def _close_to_others(path: Path) -> None:
    """Only the server's OS user (and root) may enter: other local users cannot reach the socket or the files."""
    _chown_to_server(path)
    path.chmod(0o700)


class EmbeddedCluster:
    """Provision, start, stop and describe the private cluster recorded under `settings.home`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = Path(settings.home).resolve()
        self.record = self.home / "cluster.json"
        self.passfile = self.home / "pgpass"

    # -- state ---------------------------------------------------------------------------------
    def _base_dir(self) -> Path:
        if _server_can_enter(self.home):
            return self.home
        # The server user cannot reach the checkout: keep the cluster where it can, keyed by checkout.
        digest = hashlib.sha1(str(self.home).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"gridmap-{digest}"

    def load(self) -> Cluster | None:
        if not self.record.exists():
            return None
        cluster = Cluster(**json.loads(self.record.read_text()))
        cluster.passfile = cluster.passfile or str(self.passfile)
        return cluster

    def _save(self, cluster: Cluster) -> None:
        self.record.write_text(json.dumps(asdict(cluster), indent=2) + "\n")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / "cluster.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # -- lifecycle -----------------------------------------------------------------------------
    def is_running(self, cluster: Cluster | None = None) -> bool:
        cluster = cluster or self.load()
        if cluster is None or not Path(cluster.data_dir, "PG_VERSION").exists():
            return False
        done = _run([f"{cluster.bin_dir}/pg_ctl", "status", "-D", cluster.data_dir], as_server=True)
        return done.returncode == 0

    def ensure_running(self) -> Cluster:
        """Provision (initdb) if needed, start if stopped, create the database and PostGIS. Idempotent."""
        with self._locked():
            cluster = self.load() or self._initdb()
            if not self.is_running(cluster):
                if not _port_free(cluster.port):
                    cluster.port = _next_free_port(cluster.port + 1)
                    self._save(cluster)
                self._start(cluster)
            if not cluster.secured:
                self._secure(cluster)
            elif set(ROLES) - passfile_roles(Path(cluster.passfile), cluster.port):
                self._repair_passfile(cluster)
            self._ensure_database(cluster, cluster.database)
            return cluster

    def _initdb(self) -> Cluster:
        base = self._base_dir()
        data_dir, socket_dir = base / "pg", base / "run"
        for path in (base, socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            _close_to_others(path)
        bin_dir = _find_bin_dir()
        port = _next_free_port(self.settings.pg_port)
        passwords = {role: new_password() for role in ROLES}
        if not (data_dir / "PG_VERSION").exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            _close_to_others(data_dir)
            # The superuser's password goes to initdb in a file only the server user can read, deleted at once:
            # the cluster never runs a moment without passwords.
            pwfile = base / "initdb.pw"
            pwfile.unlink(missing_ok=True)
            descriptor = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as out:
                out.write(passwords[ADMIN_ROLE] + "\n")
            _chown_to_server(pwfile)
            try:
                done = _run(
                    [
                        str(bin_dir / "initdb"),
                        "-D",
                        str(data_dir),
                        "-U",
                        ADMIN_ROLE,
                        "--auth-local=scram-sha-256",
                        "--auth-host=scram-sha-256",
                        f"--pwfile={pwfile}",
                        "-E",
                        "UTF8",
                        "--no-locale",
                    ],
                    as_server=True,
                )
            finally:
                pwfile.unlink(missing_ok=True)
            if done.returncode != 0:
                raise DatabaseUnavailable(f"initdb failed in {data_dir}: {done.stderr.strip()}")
        write_passfile(self.passfile, port, passwords)
        cluster = Cluster(
            data_dir=str(data_dir),
            socket_dir=str(socket_dir),
            bin_dir=str(bin_dir),
            port=port,
            database=self.settings.database_name,
            passfile=str(self.passfile),
        )
        self._save(cluster)
        return cluster

    def _secure(self, cluster: Cluster) -> None:
        """Make the running cluster least-privilege: passwords for every role, the owner and app roles, every
        database and its objects owned by the owner role with the app's grants, SCRAM for every connection and
        directories closed to other users. Idempotent; this is also how a cluster from before roles is upgraded
        in place (it trusted local connections, so the first connection needs no password)."""
        passfile = Path(cluster.passfile)
        passwords = read_passfile(passfile)
        passwords = {role: passwords.get(role) or new_password() for role in ROLES}
        write_passfile(passfile, cluster.port, passwords)
        admin = cluster.url("postgres", ADMIN_ROLE, strict=False)
        try:
            with psycopg.connect(plain_dsn(admin), autocommit=True) as conn:
                ensure_roles(conn, passwords)
                databases = [
                    row[0]
                    for row in conn.execute(
                        "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'"
                    )
                ]
            for database in databases:
                with psycopg.connect(plain_dsn(cluster.url(database, ADMIN_ROLE, strict=False))) as conn:
                    transfer_ownership(conn)
                apply_grants(cluster.url(database, OWNER_ROLE, strict=False))
            Path(cluster.data_dir, "pg_hba.conf").write_text(PG_HBA)
            with psycopg.connect(plain_dsn(admin), autocommit=True) as conn:
                conn.execute("SELECT pg_reload_conf()")
        except psycopg.Error as exc:
            raise DatabaseUnavailable(f"cannot secure the embedded cluster in {cluster.data_dir}: {exc}") from exc
        for path in (cluster.base_dir, Path(cluster.socket_dir)):
            _close_to_others(path)
        cluster.secured = True
        self._save(cluster)

    def _repair_passfile(self, cluster: Cluster) -> None:
        """Rewrite the password file for the cluster's current port (it moves when its port was taken)."""
        passwords = read_passfile(Path(cluster.passfile))
        if set(ROLES) - passwords.keys():
            raise DatabaseUnavailable(
                f"the password file {cluster.passfile} of the embedded cluster is missing or incomplete: restore it, "
                f"or delete {self.home} and {cluster.base_dir} to provision a new cluster"
            )
        write_passfile(Path(cluster.passfile), cluster.port, passwords)

    def _start(self, cluster: Cluster) -> None:
        options = (
            f"-p {cluster.port} -k {cluster.socket_dir} -c listen_addresses=127.0.0.1 -c unix_socket_permissions=0700"
        )
        done = _run(
            [
                f"{cluster.bin_dir}/pg_ctl",
                "start",
                "-D",
                cluster.data_dir,
                "-l",
                cluster.log_file,
                "-w",
                "-t",
                "60",
                "-o",
                options,
            ],
            as_server=True,
        )
        if done.returncode != 0:
            raise DatabaseUnavailable(
                f"the embedded cluster in {cluster.data_dir} did not start: "
                f"{done.stderr.strip() or done.stdout.strip()} (log: {cluster.log_file})"
            )

    def stop(self) -> bool:
        cluster = self.load()
        if cluster is None or not self.is_running(cluster):
            return False
        _run([f"{cluster.bin_dir}/pg_ctl", "stop", "-D", cluster.data_dir, "-m", "fast", "-w"], as_server=True)
        return True

    def _ensure_database(self, cluster: Cluster, name: str) -> None:
        ensure_database(cluster.url("postgres", ADMIN_ROLE), name)


def ensure_database(admin_url: str, name: str, *, recreate: bool = False) -> None:
    """Create database `name` (and PostGIS in it) on the server of `admin_url` when missing.

    On the embedded cluster any of its URLs will do (the app's too): the database is created by the superuser and
    owned by the owner role. A configured URL is used as given."""
    owner = OWNER_ROLE if OWNER_ROLE in embedded_roles(admin_url) else None
    admin_url = with_role(admin_url, ADMIN_ROLE)
    try:
        with psycopg.connect(plain_dsn(admin_url), autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists and recreate:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
                exists = None
            if not exists:
                create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                if owner:
                    create = sql.SQL("{} OWNER {}").format(create, sql.Identifier(owner))
                conn.execute(create)
        db_url = str(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
        with psycopg.connect(plain_dsn(db_url), autocommit=True, connect_timeout=10) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except psycopg.Error as exc:
        raise DatabaseUnavailable(f"cannot prepare database {name!r} at {redact_url(admin_url)}: {exc}") from exc


def redact_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    if "@" in rest:
        creds, host = rest.rsplit("@", 1)
        rest = f"{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else rest
    return f"{scheme}://{rest}"
