"""tile versions: a counter per table that vector tiles are made from, bumped when a change to it commits

Tiles are cached by data version (gis/layers/tiles.py). A statement trigger on each of these tables notes the
table's counter in a transaction-local setting and, the first time in a transaction, adds a row to
`tile_changes`; that row's deferred constraint trigger runs at commit and adds one to every noted counter in
`tile_versions`, in name order, then removes the row. So:

- a version and the data written with it become visible together (the counters are rows written in the same
  transaction; on a read replica too), and versions follow commit order (a sequence would not: a later number
  can commit first);
- the counters' row locks are taken only while committing and always in the same order: writers of these
  tables never wait for each other's counters while working, and never deadlock on them (counters locked at
  each statement could, e.g. an import holding `grids` while waiting for the publish lock that a publish holds
  while waiting for `grids`).

Publishing (grid_plans.status) counts as a change of grids, since the default grid tiles show the published plan.
A session that runs `SET CONSTRAINTS ALL IMMEDIATE` bumps the counters at every statement (tests that never commit).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# table → (counter, events): gis.layers.tiles.VERSIONED_TABLES names the same counters.
TRIGGERS = {
    "buildings": ("buildings", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
    "communities": ("communities", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
    "facilities": ("facilities", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
    "grids": ("grids", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
    # Edits bump grid_plans.version on every step; only a change of status changes what tiles show.
    "grid_plans": ("grids", "INSERT OR UPDATE OF status OR DELETE OR TRUNCATE"),
    "districts": ("districts", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
    "streets": ("streets", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
    "landcover": ("landcover", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
    "network_edges": ("network_edges", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
}


def upgrade() -> None:
    versions = op.create_table(
        "tile_versions",
        sa.Column("source", sa.Text(), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
    )
    op.bulk_insert(versions, [{"source": counter} for counter in sorted({c for c, _ in TRIGGERS.values()})])
    op.create_table("tile_changes", sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True))
    # The setting lists the transaction's counters as ",a,b,"; it is set before the row is added, so that in
    # IMMEDIATE mode the row's trigger (run at once) finds it.
    op.execute(
        """CREATE FUNCTION tile_versions_touch() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE touched text := coalesce(current_setting('gridmap.tile_sources', true), '');
        BEGIN
            IF position(',' || TG_ARGV[0] || ',' IN touched) = 0 THEN
                PERFORM set_config('gridmap.tile_sources', coalesce(nullif(touched, ''), ',') || TG_ARGV[0] || ',',
                                   true);
                IF touched = '' THEN
                    INSERT INTO tile_changes DEFAULT VALUES;
                END IF;
            END IF;
            RETURN NULL;
        END $$"""
    )
    op.execute(
        """CREATE FUNCTION tile_versions_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE counter text;
        BEGIN
            FOR counter IN
                SELECT s FROM unnest(string_to_array(current_setting('gridmap.tile_sources', true), ',')) AS s
                WHERE s <> '' ORDER BY s
            LOOP
                INSERT INTO tile_versions (source, version) VALUES (counter, 1)
                ON CONFLICT (source) DO UPDATE SET version = tile_versions.version + 1;
            END LOOP;
            PERFORM set_config('gridmap.tile_sources', '', true);
            DELETE FROM tile_changes WHERE id = NEW.id;
            RETURN NULL;
        END $$"""
    )
    op.execute(
        """CREATE CONSTRAINT TRIGGER tile_changes_commit AFTER INSERT ON tile_changes
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tile_versions_commit()"""
    )
    for table, (counter, events) in TRIGGERS.items():
        op.execute(
            f"""CREATE TRIGGER {table}_tile_version AFTER {events} ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION tile_versions_touch('{counter}')"""
        )


def downgrade() -> None:
    for table in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_tile_version ON {table}")
    op.drop_table("tile_changes")
    op.execute("DROP FUNCTION IF EXISTS tile_versions_touch()")
    op.execute("DROP FUNCTION IF EXISTS tile_versions_commit()")
    op.drop_table("tile_versions")
