"""Sign-in backs off per account: after five failures for one user name, attempts for that name from any
address get 429 with Retry-After, the wait growing with each further failure; a success forgets the failures.
Unknown names behave the same, and the count lives in the database, shared by every server process."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from gis.auth import signin
from gis.settings import Settings
from tests.conftest import GridmapClient, client_for

PASSWORD = "correct horse battery"


@pytest.fixture
def backoff(client: GridmapClient, settings: Settings) -> Iterator[GridmapClient]:
    """The client with user `zhou` (PASSWORD), and the per-address limit off so only the per-name one counts."""
    client.app.state.settings = settings.model_copy(update={"sign_in_attempts_per_minute": 0})
    assert (
        client.post("/api/users", json={"name": "zhou", "role": "dispatcher", "password": PASSWORD}).status_code == 201
    )
    yield client


def attempt(client: TestClient, name: str, password: str, **headers: str) -> Any:
    return client.post("/api/auth/token", data={"username": name, "password": password}, headers=headers)


def statuses(client: TestClient, name: str, n: int) -> list[int]:
    return [attempt(client, name, f"wrong guess {i}").status_code for i in range(n)]


def wait_passes(session: Session, name: str) -> None:
    """Move the stored lock into the past, as if its wait had passed (the failures stay recent)."""
    session.execute(
        text("""UPDATE sign_in_failures SET locked_until = locked_until - interval '1 day',
                                            last_failed_at = last_failed_at - interval '1 minute'
                WHERE login_key = :key"""),
        {"key": hashlib.sha256(name.encode()).hexdigest()},
    )


def locked(response: Any) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["where"] == "username" and body["type"] == "urn:gridmap:problem:too-many-requests"  # any language
    retry_after = int(response.headers["Retry-After"])
    assert str(retry_after) in body["detail"]
    return retry_after


def test_five_failures_make_the_name_wait_whatever_the_password_or_address(
    backoff: GridmapClient, engine: Engine, settings: Settings, session: Session
) -> None:
    public = backoff.anonymous
    assert statuses(public, "zhou", 5) == [401] * 5
    first_wait = locked(attempt(public, "zhou", PASSWORD))  # even the right password waits: guessing must not pay
    assert 1 <= first_wait <= signin.FIRST_WAIT.total_seconds()

    elsewhere = TestClient(backoff.app, client=("203.0.113.7", 40000))  # another address: the same wait
    locked(attempt(elsewhere, "zhou", PASSWORD))
    # Another server process (its own app, its own in-memory per-address limits) reads the same count.
    with client_for(engine, settings, session) as other_process:
        locked(attempt(other_process.anonymous, "zhou", PASSWORD))
    # Other names are not affected.
    assert attempt(public, "test-admin", "wrong guess").status_code == 401

    chinese = attempt(public, "zhou", PASSWORD, **{"Accept-Language": "zh-CN,zh;q=0.9"})
    locked(chinese)
    assert "登录失败次数过多" in chinese.json()["detail"]

    # Each failure after a wait makes the next wait longer.
    wait_passes(session, "zhou")
    assert attempt(public, "zhou", "wrong again").status_code == 401
    second_wait = locked(attempt(public, "zhou", PASSWORD))
    assert second_wait > first_wait and second_wait <= 2 * signin.FIRST_WAIT.total_seconds()

    # A success once the wait is over forgets every failure: the name gets its five tries again.
    wait_passes(session, "zhou")
    assert attempt(public, "zhou", PASSWORD).status_code == 200
    assert session.execute(text("SELECT count(*) FROM sign_in_failures")).scalar_one() == 1  # test-admin's one
    assert statuses(public, "zhou", 5) == [401] * 5


def test_an_unknown_name_backs_off_exactly_like_a_known_one(backoff: GridmapClient) -> None:
    public = backoff.anonymous
    answers = {}
    for name in ("zhou", "nobody-by-this-name"):
        wrong = [attempt(public, name, f"guess {i}") for i in range(5)]
        answers[name] = ([r.status_code for r in wrong], wrong[-1].json()["detail"], locked(attempt(public, name, "x")))
    assert answers["zhou"] == answers["nobody-by-this-name"]


def test_the_count_is_kept_by_a_digest_and_old_failures_are_forgotten(backoff: GridmapClient, session: Session) -> None:
    public = backoff.anonymous
    assert statuses(public, "zhou", 4) == [401] * 4
    stored = session.execute(text("SELECT login_key, failures, locked_until FROM sign_in_failures")).one()
    assert stored.login_key == hashlib.sha256(b"zhou").hexdigest() and stored.failures == 4
    assert stored.locked_until is None

    # An hour without failures: the four are forgotten, so a fifth does not make the name wait.
    session.execute(text("UPDATE sign_in_failures SET last_failed_at = last_failed_at - interval '2 hours'"))
    assert statuses(public, "zhou", 2) == [401, 401]
    assert session.execute(text("SELECT failures FROM sign_in_failures")).scalar_one() == 2


def test_the_wait_doubles_up_to_a_ceiling() -> None:
    waits = [signin.wait_after(n) for n in range(1, 20)]
    allowed = signin.FAILURES_ALLOWED
    assert waits[: allowed - 1] == [timedelta(0)] * (allowed - 1)
    assert waits[allowed - 1] == signin.FIRST_WAIT and waits[allowed] == 2 * signin.FIRST_WAIT
    assert max(waits) == signin.LONGEST_WAIT == waits[-1]
    assert signin.wait_after(10**6) == signin.LONGEST_WAIT
