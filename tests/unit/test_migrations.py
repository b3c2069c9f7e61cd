"""The migrations form one numbered chain: what gis.db.engine.head_revision (every command's quick "is the schema
current?" check) relies on."""

from __future__ import annotations

import re

from gis.db.engine import MIGRATIONS, head_revision


def test_each_migration_is_named_by_its_revision_and_revises_the_one_before() -> None:
    files = sorted((MIGRATIONS / "versions").glob("[0-9]*_*.py"))
    assert len(files) >= 24
    previous = None
    for path in files:
        source = path.read_text(encoding="utf-8")
        revision = re.search(r'^revision = "([^"]+)"$', source, re.MULTILINE)
        down = re.search(r"^down_revision = (None|\"([^\"]+)\")$", source, re.MULTILINE)
        assert revision and down, path.name
        assert revision.group(1) == path.name.split("_", 1)[0], path.name
        assert down.group(2) == previous, path.name
        previous = revision.group(1)
    assert head_revision() == previous
    # Nothing else in the folder that alembic would load as a migration.
    assert {p.name for p in (MIGRATIONS / "versions").glob("*.py")} == {p.name for p in files}
