"""Idempotent incident reports under real concurrency: a committed demo database and a live server.

The `demo_client` fixtures share one rolled-back session, which serialises requests; here every request
has its own connection and transaction, as in production, so same-key retries truly race.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from anyio import to_thread
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from gis.db.cluster import plain_dsn
from gis.db.engine import transaction
from gis.exchange.demo import load_demo
from gis.incidents import records as incidents
from gis.incidents.records import Place
from gis.settings import Settings
from tests.api.test_incidents import somewhere
from tests.browser import harness as browser
from tests.conftest import fresh_database

THREADS = 8


@pytest.fixture(scope="module")
def committed_demo(settings: Settings) -> Iterator[Engine]:
    """The demo district in a database whose writes are committed (no per-test rollback)."""
    engine = fresh_database(settings, "test_idempotency")
    with transaction(engine) as session:
        load_demo(session, settings)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def server(committed_demo: Engine) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        # Every request here is an anonymous report from one address: no rate limit (0 = unlimited).
        env.setenv("GRIDMAP_ANONYMOUS_SUBMISSIONS_PER_MINUTE", "0")
        yield from browser.serve(committed_demo.url.render_as_string(hide_password=False))


@pytest.fixture(scope="module")
def location(committed_demo: Engine) -> dict[str, float]:
    with Session(committed_demo) as session:
        lon, lat, _ = somewhere(session, 3)
    return {"lon": lon, "lat": lat}


def post(base_url: str, key: str, location: dict[str, float], description: str = "路灯不亮") -> httpx.Response:
    return httpx.post(
        f"{base_url}/api/incidents",
        json={"category": "facility_damage", "description": description, "location": location},
        headers={"Idempotency-Key": key},
        timeout=60,
    )


# Every request here is anonymous from the live server's loopback address: the scope of its keys.
LOOPBACK = "address:127.0.0.1"


def rows_for(engine: Engine, key: str, client: str = LOOPBACK) -> tuple[int, int]:
    """(incidents, their report events) stored under `client`'s `key`."""
    key = incidents.scoped_key(client, key)
    with engine.connect() as conn:
        return conn.execute(
            text("""SELECT count(DISTINCT i.id), count(e.id) FROM incidents i
                    LEFT JOIN incident_events e ON e.incident_id = i.id AND e.action = 'report'
                    WHERE i.idempotency_key = :k"""),
            {"k": key},
        ).one()


def together(n: int, call: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """`call` from n threads released at the same instant."""
    barrier = threading.Barrier(n)

    def run() -> httpx.Response:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: run(), range(n)))


def assert_one_incident(responses: list[httpx.Response], created: int = 1) -> int:
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1, f"one key made several incidents: {ids}"
    assert sum(r.status_code == 201 for r in responses) == created
    assert all(r.headers.get("Idempotent-Replayed") == "true" for r in responses if r.status_code == 200)
    # A replay answers like the original: a client whose first answer was lost reads the same fields.
    assert all({"possible_duplicates", "workers", "history"} <= r.json().keys() for r in responses)
    return ids.pop()


def test_same_key_from_many_threads_makes_one_incident(
    server: str, committed_demo: Engine, location: dict[str, float]
) -> None:
    for round_ in range(5):
        key = f"race-{round_}"
        responses = together(THREADS, lambda key=key: post(server, key, location))
        assert_one_incident(responses)
        assert rows_for(committed_demo, key) == (1, 1)


def test_one_key_racing_with_two_different_reports_makes_one_incident_and_409s(
    server: str, committed_demo: Engine, location: dict[str, float]
) -> None:
    """Half the threads send one report, half another, all with the same key at the same instant. Whichever
    report wins, the key makes one incident: its report's requests answer with it, the others get a 409 —
    also those that lost the race at the unique index, not only those that found the row at once."""
    key = "race-different"
    descriptions = ["井盖缺失", "路灯不亮"] * (THREADS // 2)
    barrier = threading.Barrier(THREADS)

    def run(description: str) -> tuple[str, httpx.Response]:
        barrier.wait()
        return description, post(server, key, location, description=description)

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(run, descriptions))
    won = {d for d, r in answers if r.status_code == 201}
    assert len(won) == 1, [(d, r.status_code, r.text[:200]) for d, r in answers]
    for description, response in answers:
        if description in won:
            assert response.status_code in (200, 201), response.text
        else:
            assert response.status_code == 409, response.text
            assert response.json()["where"] == "Idempotency-Key"
    assert len({r.json()["id"] for d, r in answers if d in won}) == 1
    assert rows_for(committed_demo, key) == (1, 1)


def wait_for_lock_waiters(engine: Engine, n: int) -> None:
    """Until n backends of this database wait on a row or transaction lock (the INSERTs behind ours)."""
    deadline = time.monotonic() + 30
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        while True:
            waiting = conn.execute(
                text("""SELECT count(*) FROM pg_stat_activity
                        WHERE datname = current_database() AND wait_event_type = 'Lock'""")
            ).scalar_one()
            if waiting >= n:
                return
            assert time.monotonic() < deadline, f"only {waiting} of {n} requests reached the INSERT"
            time.sleep(0.05)


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_requests_queued_behind_an_uncommitted_report_of_their_key(
    outcome: str, server: str, committed_demo: Engine, location: dict[str, float], settings: Settings
) -> None:
    """The race the first lookup cannot see: the key's row is inserted but not committed yet.

    Every request passes the lookup and blocks on the unique index. If the holder commits they must all
    answer with its incident (not a 500 for the unique violation); if it rolls back (a crashed server),
    exactly one of them creates the incident and the others return that one."""
    key = f"held-{outcome}"
    with Session(committed_demo) as holder:
        held, _ = incidents.report(
            holder,
            category="facility_damage",
            place=Place(**location),
            settings=settings,
            description="路灯不亮",  # the report `post` sends: the same key with another report is a 409
            idempotency_key=key,
            client=LOOPBACK,
        )
        with ThreadPoolExecutor(THREADS) as pool:
            pending = [pool.submit(post, server, key, location) for _ in range(THREADS)]
            wait_for_lock_waiters(committed_demo, THREADS)
            if outcome == "commit":
                holder.commit()
            else:
                holder.rollback()  # as when the server holding it dies
            responses = [f.result() for f in pending]
    incident_id = assert_one_incident(responses, created=0 if outcome == "commit" else 1)
    assert (incident_id == held["id"]) == (outcome == "commit")
    assert rows_for(committed_demo, key) == (1, 1)


def test_created_answer_is_sent_only_after_the_commit(committed_demo: Engine, location: dict[str, float]) -> None:
    """A 201 is a promise: a crash right after it must not lose the incident.

    When the response starts, the incident must already be visible to another connection; a session
    committed after the response (FastAPI's default for dependencies with yield) would break that."""
    url = committed_demo.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, anonymous_submissions_per_minute=0))
    visible_at_response: list[int] = []

    async def watching(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def send_and_look(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and scope["path"] == "/api/incidents":
                with psycopg.connect(plain_dsn(url), autocommit=True) as conn:
                    row = conn.execute(
                        "SELECT count(*) FROM incidents WHERE idempotency_key = %s",
                        (incidents.scoped_key("address:testclient", "ack-1"),),
                    ).fetchone()
                visible_at_response.append(row[0])
            await send(message)

        await app(scope, receive, send_and_look)

    with TestClient(watching) as client:
        response = client.post(
            "/api/incidents",
            json={"category": "facility_damage", "location": location},
            headers={"Idempotency-Key": "ack-1"},
        )
    assert response.status_code == 201, response.text
    assert visible_at_response == [1]


def test_an_empty_key_is_no_key(server: str, location: dict[str, float]) -> None:
    """Clients that send the header empty must not all be answered with the first such incident."""
    first, second = (post(server, "", location, description=f"第{n}次") for n in (1, 2))
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert first.json()["id"] != second.json()["id"]


@pytest.fixture(scope="module")
def few_threads_server(committed_demo: Engine) -> Iterator[str]:
    """The app on a live server with 4 worker threads instead of 40, so a handful of clients are "load"."""
    settings = Settings(
        database_url=committed_demo.url.render_as_string(hide_password=False), anonymous_submissions_per_minute=0
    )
    app = create_app(settings)

    async def few_threads(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # runs in the server's event loop, whose limiter this is
            to_thread.current_default_thread_limiter().total_tokens = 4
        await app(scope, receive, send)

    port = browser.free_port()
    server = uvicorn.Server(uvicorn.Config(few_threads, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_more_requests_in_flight_than_threads_and_connections_do_not_stall(
    few_threads_server: str, location: dict[str, float]
) -> None:
    """32 clients reporting back to back against 4 threads and 15 pooled connections.

    A request keeps its connection while it queues for a thread again (response validation); unbounded,
    15 such requests hold the whole pool while the 4 threads wait for a connection, until the pool's 30 s
    timeout and a 500 (found by `make loadtest` at 64 clients on the default 40 threads). Every report
    must be answered 201, none slowly."""
    clients, each = 32, 4

    def client(n: int) -> list[tuple[int, float]]:
        answers = []
        for i in range(each):
            started = time.monotonic()
            status = post(few_threads_server, f"load-{n}-{i}", location).status_code
            answers.append((status, time.monotonic() - started))
        return answers

    with ThreadPoolExecutor(clients) as pool:
        answers = [a for batch in pool.map(client, range(clients)) for a in batch]
    assert Counter(status for status, _ in answers) == {201: clients * each}
    assert max(seconds for _, seconds in answers) < 20
