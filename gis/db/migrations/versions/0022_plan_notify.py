"""plan notify: a version of everything a locate answer holds, bumped and announced (NOTIFY) on change

`locate_version` is one row whose `version` goes up, once per committing transaction, when anything a locate
answer contains changes: which plan is published or its version (publishing, `refresh_plans` after base data
changes), the published plan's grids, grid workers, a user's display name, the names and codes of communities,
streets and districts. The same transaction sends `NOTIFY gridmap_locate, '<version>'`, so every server process
listening (gis/locate/published.py) drops its in-memory index of the published plan and rebuilds it; a process
that cannot listen (a hot standby) compares the version instead.

The triggers are deferred constraint triggers: they run at commit, after every other lock of the transaction is
taken, so bumping the one row cannot deadlock with plan locks, and a transaction-local setting makes the bump
happen once per transaction however many rows it touched.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

CHANNEL = "gridmap_locate"  # gis/locate/published.py listens on it

# (table, trigger name, event, WHEN condition or None): what a locate answer reads (gis/locate/point.py).
TRIGGERS = (
    ("grid_plans", "locate_plan_insert", "INSERT", "NEW.status = 'published'"),
    (
        "grid_plans",
        "locate_plan_update",
        "UPDATE",
        "(OLD.status = 'published' OR NEW.status = 'published') "
        "AND (OLD.status IS DISTINCT FROM NEW.status OR OLD.version IS DISTINCT FROM NEW.version)",
    ),
    ("grid_plans", "locate_plan_delete", "DELETE", "OLD.status = 'published'"),
    # Grids of drafts change on every planner edit: locate_grid_changed skips rows of plans not published.
    ("grids", "locate_grids", "INSERT OR UPDATE OR DELETE", None),
    ("grid_workers", "locate_grid_workers", "INSERT OR UPDATE OR DELETE", None),
    ("users", "locate_users", "UPDATE", "OLD.display_name IS DISTINCT FROM NEW.display_name"),
    (
        "communities",
        "locate_communities",
        "UPDATE",
        "OLD.code IS DISTINCT FROM NEW.code OR OLD.name IS DISTINCT FROM NEW.name "
        "OR OLD.street_id IS DISTINCT FROM NEW.street_id",
    ),
    ("communities", "locate_communities_delete", "DELETE", None),
    (
        "streets",
        "locate_streets",
        "UPDATE",
        "OLD.code IS DISTINCT FROM NEW.code OR OLD.name IS DISTINCT FROM NEW.name "
        "OR OLD.district_id IS DISTINCT FROM NEW.district_id",
    ),
    ("streets", "locate_streets_delete", "DELETE", None),
    (
        "districts",
        "locate_districts",
        "UPDATE",
        "OLD.code IS DISTINCT FROM NEW.code OR OLD.name IS DISTINCT FROM NEW.name",
    ),
    ("districts", "locate_districts_delete", "DELETE", None),
)


def upgrade() -> None:
    op.execute(
        """CREATE TABLE locate_version (
               id boolean PRIMARY KEY DEFAULT true CHECK (id),
               version bigint NOT NULL DEFAULT 1
           )"""
    )
    op.execute("INSERT INTO locate_version (id, version) VALUES (true, 1)")
    # Once per transaction (a transaction-local setting remembers): one version and one notification per commit.
    op.execute(
        f"""CREATE FUNCTION locate_bump() RETURNS void LANGUAGE plpgsql AS $$
            DECLARE
                bumped bigint;
            BEGIN
                IF current_setting('gridmap.locate_changed', true) = 'on' THEN
                    RETURN;
                END IF;
                UPDATE locate_version SET version = version + 1 RETURNING version INTO bumped;
                PERFORM pg_notify('{CHANNEL}', bumped::text);
                PERFORM set_config('gridmap.locate_changed', 'on', true);
            END $$"""
    )
    op.execute(
        """CREATE FUNCTION locate_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM locate_bump();
                RETURN NULL;
            END $$"""
    )
    # Grids of drafts change on every planner edit: only rows of the published plan count.
    op.execute(
        """CREATE FUNCTION locate_grid_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                plans integer[];
            BEGIN
                IF current_setting('gridmap.locate_changed', true) = 'on' THEN
                    RETURN NULL;
                END IF;
                IF TG_OP = 'INSERT' THEN
                    plans := ARRAY[NEW.plan_id];
                ELSIF TG_OP = 'DELETE' THEN
                    plans := ARRAY[OLD.plan_id];
                ELSE
                    plans := ARRAY[OLD.plan_id, NEW.plan_id];
                END IF;
                IF EXISTS (SELECT 1 FROM grid_plans p WHERE p.id = ANY(plans) AND p.status = 'published') THEN
                    PERFORM locate_bump();
                END IF;
                RETURN NULL;
            END $$"""
    )
    for table, name, event, when in TRIGGERS:
        condition = f" WHEN ({when})" if when else ""
        function = "locate_grid_changed" if table == "grids" else "locate_changed"
        op.execute(
            f"""CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON {table}
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW{condition} EXECUTE FUNCTION {function}()"""
        )


def downgrade() -> None:
    for table, name, _, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON {table}")
    op.execute("DROP FUNCTION locate_grid_changed()")
    op.execute("DROP FUNCTION locate_changed()")
    op.execute("DROP FUNCTION locate_bump()")
    op.execute("DROP TABLE locate_version")
