"""Every command starts by making sure the schema is current (gis.db.engine.upgrade): a database at the head is
recognised by one query and left alone; anything else goes through alembic."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import Engine

from gis.db.engine import at_head, upgrade


def test_a_database_at_the_head_is_not_migrated_again(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    url = engine.url.render_as_string(hide_password=False)
    assert at_head(url)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("alembic ran on a database at the head")

    monkeypatch.setattr(command, "upgrade", refuse)
    upgrade(url)  # nothing to do, and alembic is not asked


def test_a_database_behind_the_head_is_migrated(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    url = engine.url.render_as_string(hide_password=False)
    asked: list[str] = []
    monkeypatch.setattr(command, "upgrade", lambda config, revision: asked.append(revision))
    monkeypatch.setattr("gis.db.engine.head_revision", lambda: "9999")  # a migration this database has not seen
    assert not at_head(url)
    upgrade(url)
    assert asked == ["head"]
