"""API tests: the real app through FastAPI's test client (`client`, `demo_client`, `as_role` in
tests/conftest.py), each request in the test's rolled-back database session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from api.routers.events import event_sessions
from tests.conftest import GridmapClient


@pytest.fixture
def stream_client(demo_client: GridmapClient, demo_session: Session) -> Iterator[GridmapClient]:
    """The demo client whose event streams read the test's rolled-back session (one savepoint per poll)."""

    @contextmanager
    def in_test_session() -> Iterator[Session]:
        with demo_session.begin_nested():
            yield demo_session

    app = demo_client.app
    assert isinstance(app, FastAPI)
    app.dependency_overrides[event_sessions] = lambda: in_test_session
    yield demo_client
    app.dependency_overrides.pop(event_sessions)
