"""The embedded PostgreSQL + PostGIS cluster: provisioned on first use when GRIDMAP_DATABASE_URL is unset.

The cluster lives under `<home>/pg` (home defaults to `.gridmap` in the checkout) and listens on
127.0.0.1:55432. When running as root the server runs as the `postgres` OS user, which must be able to
enter the data directory: if the checkout sits under a private directory (e.g. /root), the cluster is
kept under /var/tmp instead and `<home>/cluster.json` records where. When port 55432 is taken by
another cluster (a second checkout on the same machine), the next free port is used and recorded.
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

from gis.errors import DatabaseUnavailable
from gis.settings import Settings

SERVER_USER = "postgres"


@dataclass
class Cluster:
    data_dir: str
    socket_dir: str
    port: int
    bin_dir: str
    database: str

    @property
    def log_file(self) -> str:
        return str(Path(self.data_dir).parent / "postgres.log")

    def url(self, database: str | None = None) -> str:
        return f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{self.port}/{database or self.database}"


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


class EmbeddedCluster:
    """Provision, start, stop and describe the private cluster recorded under `settings.home`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = Path(settings.home).resolve()
        self.record = self.home / "cluster.json"

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
        return Cluster(**json.loads(self.record.read_text()))

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
            self._ensure_database(cluster, cluster.database)
            return cluster

    def _initdb(self) -> Cluster:
        base = self._base_dir()
        data_dir, socket_dir = base / "pg", base / "run"
        for path in (base, socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            _chown_to_server(path)
        bin_dir = _find_bin_dir()
        if not (data_dir / "PG_VERSION").exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            _chown_to_server(data_dir)
            data_dir.chmod(0o700)
            done = _run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data_dir),
                    "-U",
                    SERVER_USER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ],
                as_server=True,
            )
            if done.returncode != 0:
                raise DatabaseUnavailable(f"initdb failed in {data_dir}: {done.stderr.strip()}")
        cluster = Cluster(
            data_dir=str(data_dir),
            socket_dir=str(socket_dir),
            bin_dir=str(bin_dir),
            port=_next_free_port(self.settings.pg_port),
            database=self.settings.database_name,
        )
        self._save(cluster)
        return cluster

    def _start(self, cluster: Cluster) -> None:
        options = f"-p {cluster.port} -k {cluster.socket_dir} -c listen_addresses=127.0.0.1"
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
        ensure_database(cluster.url("postgres"), name)


def plain_dsn(url: str) -> str:
    """A libpq DSN from an SQLAlchemy URL (drops the +driver suffix)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def ensure_database(admin_url: str, name: str, *, recreate: bool = False) -> None:
    """Create database `name` (and PostGIS in it) on the server of `admin_url` when missing."""
    try:
        with psycopg.connect(plain_dsn(admin_url), autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists and recreate:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
                exists = None
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        db_url = admin_url.rsplit("/", 1)[0] + "/" + name
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
