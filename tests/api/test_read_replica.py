"""Read replicas (GRIDMAP_READ_DATABASE_URL): read-only routes answer from a streaming standby, writes go to the
primary, and a client that just wrote reads its write at once (api/replicas.py, api.deps.get_read_session).

The module starts a primary of its own (the embedded cluster's machinery in a temporary home, whatever the suite is
configured with), loads the demo into it, and a hot standby of it with `pg_basebackup -R`. Pausing the standby's
replay makes "where did this read come from" visible without timing: a row written on the primary is on the
standby only once replay resumes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api.app import create_app
from api.deps import get_read_session, get_session
from api.replicas import COOKIE, HEADER
from gis.db.cluster import SERVER_USER, Cluster, EmbeddedCluster, _next_free_port, _run, plain_dsn
from gis.db.engine import make_engine, transaction, upgrade
from gis.db.roles import ADMIN_ROLE, APP_ROLE, read_passfile
from gis.exchange.demo import load_demo
from gis.settings import Settings
from tests.accounts import headers_for
from tests.api.test_privacy import _get_routes

REPLAY_TIMEOUT_S = 60
FIRST_BUILDING = (
    "SELECT ARRAY[ST_X(p), ST_Y(p)] FROM (SELECT ST_PointOnSurface(footprint) p FROM buildings ORDER BY id LIMIT 1) b"
)


@dataclass
class Replicated:
    primary: Cluster
    primary_url: str  # the app role on the primary
    standby_url: str  # the app role on the standby
    standby_admin: str  # a superuser DSN on the standby: pause and resume replay

    def replay_paused(self) -> bool:
        with psycopg.connect(self.standby_admin, autocommit=True) as conn:
            return conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() == ("paused",)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Replay stopped on the standby: what the primary commits meanwhile is not there yet."""
        with psycopg.connect(self.standby_admin, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + REPLAY_TIMEOUT_S
        while not self.replay_paused():
            assert time.monotonic() < deadline, "the standby did not pause its replay"
            time.sleep(0.05)
        try:
            yield
        finally:
            with psycopg.connect(self.standby_admin, autocommit=True) as conn:
                conn.execute("SELECT pg_wal_replay_resume()")

    def wait_for_replay(self, lsn: str) -> None:
        deadline = time.monotonic() + REPLAY_TIMEOUT_S
        with psycopg.connect(self.standby_admin, autocommit=True) as conn:
            while not conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
                assert time.monotonic() < deadline, f"the standby did not replay up to {lsn}"
                time.sleep(0.05)


def _open_dir(prefix: str) -> Path:
    """A directory the server's OS user can enter (pytest's tmp_path sits under a private one when run as root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


def _as_server(args: list[str]) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *args] if os.geteuid() == 0 else args


def _start_standby(primary: Cluster, admin_password: str) -> tuple[Path, int]:
    """A hot standby of `primary` beside it: a base backup streaming from it (-R writes the standby's settings)."""
    data_dir = primary.base_dir / "standby"
    backup = subprocess.run(
        _as_server(
            [
                f"{primary.bin_dir}/pg_basebackup",
                *("-D", str(data_dir), "-R", "-X", "stream", "-c", "fast", "-w"),
                *("-h", "127.0.0.1", "-p", str(primary.port), "-U", ADMIN_ROLE),
            ]
        ),
        env={**os.environ, "PGPASSWORD": admin_password},
        capture_output=True,
        text=True,
        check=False,
    )
    assert backup.returncode == 0, backup.stderr
    port = _next_free_port(primary.port + 1)
    options = f"-p {port} -k {primary.socket_dir} -c listen_addresses=127.0.0.1 -c unix_socket_permissions=0700"
    log = str(primary.base_dir / "standby.log")
    started = _run(
        [f"{primary.bin_dir}/pg_ctl", "start", "-D", str(data_dir), "-l", log, "-w", "-t", "60", "-o", options],
        as_server=True,
    )
    assert started.returncode == 0, started.stderr + started.stdout
    return data_dir, port


@pytest.fixture(scope="module")
def replicated(settings: Settings) -> Iterator[Replicated]:
    home = _open_dir("gridmap-replica-")
    embedded = EmbeddedCluster(Settings(database_url=None, home=home / ".gridmap", pg_port=_next_free_port(55800)))
    standby_dir: Path | None = None
    try:
        primary = embedded.ensure_running()
        passwords = read_passfile(Path(primary.passfile))
        # Replication connections match no "all" line of pg_hba.conf: the superuser may stream from loopback.
        hba = Path(primary.data_dir, "pg_hba.conf")
        hba.write_text(hba.read_text() + f"host  replication  {ADMIN_ROLE}  127.0.0.1/32  scram-sha-256\n")
        with psycopg.connect(plain_dsn(primary.url("postgres", ADMIN_ROLE)), autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
        upgrade(primary.url())
        engine = make_engine(primary.url())
        with transaction(engine) as session:
            load_demo(session, settings)
        engine.dispose()

        standby_dir, port = _start_standby(primary, passwords[ADMIN_ROLE])
        on_standby = make_url(primary.url()).set(port=port)
        yield Replicated(
            primary=primary,
            primary_url=primary.url(),
            standby_url=on_standby.set(password=passwords[APP_ROLE]).render_as_string(hide_password=False),
            standby_admin=plain_dsn(
                on_standby.set(username=ADMIN_ROLE, password=passwords[ADMIN_ROLE]).render_as_string(
                    hide_password=False
                )
            ),
        )
    finally:
        if standby_dir is not None and (standby_dir / "postmaster.pid").exists():
            cluster = embedded.load()
            assert cluster is not None
            _run([f"{cluster.bin_dir}/pg_ctl", "stop", "-D", str(standby_dir), "-m", "fast", "-w"], as_server=True)
        embedded.stop()
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class Clients:
    app: FastAPI
    writer: TestClient  # an admin who writes (keeps its cookies, as a browser does)
    reader: TestClient  # someone else: no cookie of the writer's
    admin: dict[str, str]


@contextmanager
def _serving(settings: Settings, primary_url: str, read_url: str) -> Iterator[Clients]:
    app = create_app(settings.model_copy(update={"database_url": primary_url, "read_database_url": read_url}))
    with TestClient(app, raise_server_exceptions=False) as writer:
        with transaction(app.state.engine) as session:
            admin = headers_for(session, app.state.signing_key, "admin")
        # Not entered: the writer's context already runs the app's lifespan.
        yield Clients(app, writer, TestClient(app, raise_server_exceptions=False), admin)


@pytest.fixture(scope="module")
def served(replicated: Replicated, settings: Settings) -> Iterator[Clients]:
    with _serving(settings, replicated.primary_url, replicated.standby_url) as clients:
        yield clients


def _primary_scalar(replicated: Replicated, sql: str, **params: Any) -> Any:
    engine = make_engine(replicated.primary_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar_one()
    finally:
        engine.dispose()


def test_reads_come_from_the_standby_and_a_client_that_wrote_reads_its_write_at_once(
    replicated: Replicated, served: Clients
) -> None:
    writer, reader = served.writer, served.reader
    resident = TestClient(served.app, raise_server_exceptions=False)
    lon, lat = _primary_scalar(replicated, FIRST_BUILDING)
    with replicated.paused():
        created = writer.post(
            "/api/facilities",
            json={"category": "bank", "name": "副本银行", "lon": lon, "lat": lat},
            headers=served.admin,
        )
        assert created.status_code in (200, 201), created.text
        facility, written = created.json()["id"], created.headers[HEADER]
        assert re.fullmatch(r"[0-9A-F]+/[0-9A-F]+", written)
        assert writer.cookies[COOKIE] == written
        # The write is on the primary (the standby refuses writes, and has not even replayed it).
        assert _primary_scalar(replicated, "SELECT name FROM facilities WHERE id = :id", id=facility) == "副本银行"

        # The writer reads it back at once: its position is past the standby's, so its read goes to the primary.
        assert writer.get(f"/api/facilities/{facility}").status_code == 200
        # Anyone else reads from the standby, which has not replayed it.
        assert reader.get(f"/api/facilities/{facility}").status_code == 404
        assert reader.get(f"/ogc/collections/facilities/items/{facility}").status_code == 404
        # A client without cookies (a script) sends the position as a header.
        assert reader.get(f"/api/facilities/{facility}", headers={HEADER: written}).status_code == 200

        # A resident's report (随手拍) and its tracking number, read back at once by the resident only.
        reported = resident.post(
            "/api/incidents",
            json={
                "category": "safety_hazard",
                "description": "楼道堆物",
                "location": {"lon": lon, "lat": lat},
                "channel": "web",
            },
        )
        assert reported.status_code in (200, 201), reported.text
        number, reported_at = reported.json()["tracking_number"], reported.headers[HEADER]
        assert resident.get(f"/api/track/{number}").status_code == 200
        assert resident.get(f"/report/{number}").status_code == 200
        assert reader.get(f"/api/track/{number}").status_code == 404

        # Reads carry no position of their own: only writes do.
        assert HEADER not in reader.get("/api/facilities", params={"limit": 1}).headers

    replicated.wait_for_replay(reported_at)
    assert reader.get(f"/api/facilities/{facility}").status_code == 200
    assert reader.get(f"/api/track/{number}").status_code == 200
    # Caught up: the writer's reads are the standby's again (its position is now behind the standby's).
    assert writer.get(f"/api/facilities/{facility}").status_code == 200


def test_a_publish_on_the_primary_reaches_locate_on_the_standby(replicated: Replicated, served: Clients) -> None:
    writer, reader = served.writer, served.reader

    async def in_recovery() -> bool:
        async with served.app.state.read_pool.connection() as conn:
            return (await (await conn.execute("SELECT pg_is_in_recovery()")).fetchone())[0]

    assert writer.portal is not None
    assert writer.portal.call(in_recovery), "locate's pool is not on the standby"

    lon, lat = _primary_scalar(replicated, FIRST_BUILDING)
    before = reader.get("/api/locate", params={"lon": lon, "lat": lat})
    assert before.status_code == 200, before.text

    draft = writer.post("/api/plans", json={"name": "副本测试"}, headers=served.admin)
    assert draft.status_code == 201, draft.text
    plan = draft.json()
    published = writer.post(
        f"/api/plans/{plan['id']}/publish", headers={**served.admin, "If-Match": str(plan["version"])}
    )
    assert published.status_code == 200, published.text
    assert before.json()["plan_id"] != plan["id"]

    replicated.wait_for_replay(published.headers[HEADER])
    # Locate may refresh an index of the published plan in the background: give it the replay's time.
    deadline = time.monotonic() + REPLAY_TIMEOUT_S
    while (found := reader.get("/api/locate", params={"lon": lon, "lat": lat}).json())["plan_id"] != plan["id"]:
        assert time.monotonic() < deadline, f"locate still answers plan {found['plan_id']}, not {plan['id']}"
        time.sleep(0.1)
    assert found["grid"]["code"] == before.json()["grid"]["code"]  # the same layout, now as the new plan


# -- every read route answers from the read-only standby ----------------------------------------------------------

# The read-only routes (DESIGN §2): maps and pages, tiles, the OGC API, downloads, layer reads, public read APIs.
READ_ROUTES = re.compile(
    r"^/(tiles/|ogc/collections|api/[a-z_]+/download$|api/plans/\{plan_id\}/download$|maps/(overview|public|planner|"
    r"dispatch|dashboard)$|field$|report|notice$|api/(track|notice|search|reach|dashboard)\b|"
    r"api/(districts|streets|communities|grids|buildings|facilities|network)(/\{feature_id\}(/history)?)?$)"
)


def _session_dependency(route: APIRoute) -> Any:
    calls = [d.call for d in route.dependant.dependencies if d.call in (get_session, get_read_session)]
    return calls[0] if calls else None


def _read_routes(app: FastAPI) -> list[APIRoute]:
    return [r for r in _get_routes(app.router.routes) if _session_dependency(r) is get_read_session]


def test_the_read_only_routes_are_on_the_read_session(served: Clients) -> None:
    routes = list(_get_routes(served.app.router.routes))
    expected = {r.path for r in routes if READ_ROUTES.match(r.path) and _session_dependency(r) is not None}
    on_read = {r.path for r in _read_routes(served.app)}
    assert expected <= on_read, f"read-only routes on the primary's session: {sorted(expected - on_read)}"
    assert on_read, "no route reads from the replica"


def _sample_values(replicated: Replicated, clients: Clients) -> dict[str, str]:
    first = {
        layer: clients.reader.get(f"/api/{layer}", params={"limit": 1}).json()["features"][0]["id"]
        for layer in ("districts", "streets", "communities", "grids", "buildings", "facilities", "network")
    }
    lon, lat = _primary_scalar(replicated, FIRST_BUILDING)
    zoom = 15
    x, y = _tile(lon, lat, zoom)
    return {
        "plan_id": str(_primary_scalar(replicated, "SELECT id FROM grid_plans WHERE status = 'published'")),
        "z": str(zoom),
        "x": str(x),
        "y": str(y),
        "tileMatrix": str(zoom),
        "tileCol": str(x),
        "tileRow": str(y),
        "tileMatrixSetId": "WebMercatorQuad",
        "layer": "buildings",
        "tracking_number": _reported(replicated, clients, lon, lat),
        "lon": str(lon),
        "lat": str(lat),
        **{f"first_{layer}": str(fid) for layer, fid in first.items()},
    }


def _reported(replicated: Replicated, clients: Clients, lon: float, lat: float) -> str:
    """The tracking number of a new report, once the standby has it."""
    reporter = TestClient(clients.app, raise_server_exceptions=False)  # the reader keeps no position of a write
    reported = reporter.post(
        "/api/incidents",
        json={
            "category": "safety_hazard",
            "description": "井盖缺失",
            "location": {"lon": lon, "lat": lat},
            "channel": "web",
        },
    )
    assert reported.status_code in (200, 201), reported.text
    replicated.wait_for_replay(reported.headers[HEADER])
    return reported.json()["tracking_number"]


def _tile(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    import math

    n = 2**zoom
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _url(route: APIRoute, values: dict[str, str]) -> tuple[str, dict[str, str]]:
    path = route.path
    for name in re.findall(r"\{(\w+)\}", path):
        value = values.get(name)
        if name in ("feature_id", "featureId"):
            layer = re.search(r"/(?:api|collections)/(\w+)/", path)
            assert layer is not None
            value = values.get(f"first_{layer.group(1)}", "1")
        assert value is not None, f"no sample value for {{{name}}} of {path}: add one to _sample_values"
        path = path.replace(f"{{{name}}}", value)
    params = {"lon": values["lon"], "lat": values["lat"]} if route.path == "/api/reach" else {}
    if route.path == "/api/search":
        params = {"q": "社区"}
    return path, params


def test_every_read_route_answers_from_the_read_only_standby(replicated: Replicated, served: Clients) -> None:
    """Every route on the read session runs on the standby, where any write is refused: none of them writes."""
    values = _sample_values(replicated, served)
    failures = []
    for route in _read_routes(served.app):
        path, params = _url(route, values)
        answer = served.reader.get(path, params=params, headers=served.admin)
        if answer.status_code >= 500 or answer.status_code in (401, 403, 422):
            failures.append((path, answer.status_code, answer.text[:300]))
    assert not failures, failures
    assert served.app.state.replica_retry_at == 0.0, "the standby failed to answer: reads went to the primary"


def test_a_replica_that_does_not_answer_leaves_reads_on_the_primary(replicated: Replicated, settings: Settings) -> None:
    closed = make_url(replicated.standby_url).set(port=_next_free_port(replicated.primary.port + 50))
    with _serving(settings, replicated.primary_url, closed.render_as_string(hide_password=False)) as clients:
        assert clients.reader.get("/api/facilities", params={"limit": 1}).status_code == 200
        assert clients.app.state.replica_retry_at > time.monotonic()  # not tried again for a while
        assert clients.reader.get("/maps/overview").status_code == 200
