"""buildings bulk load: an import that at least doubles the buildings builds their spatial indexes once, at the end

Inserting a city's 194,060 buildings kept two GiST indexes (footprints of `buildings` and of `buildings_history`)
up to date row by row — 2.5 of the 6 s the insert took — and checked the two `import_batches` references of every
history row one at a time (0.9 s). Built once after the rows are in (PostGIS sorts them first) an index takes a
fifth of that; a foreign key added back is checked by one join.

Two SECURITY DEFINER functions, owned by the schema's owner, let the app (which owns nothing) do exactly this and
nothing else: `gridmap_buildings_bulk_begin()` drops those two indexes and the two constraints, and
`gridmap_buildings_bulk_end()` puts them back as they were; both in the importing transaction, so a failed import
rolls the drops back too. In between the transaction holds `buildings`, `buildings_history` and `import_batches`
exclusively: readers of buildings wait for the import to commit, which is why gis/basedata/keyed.py calls them
only for loads that at least double the table (a first load, a new city).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 16:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_buildings_footprint", "public.buildings", "footprint"),
    ("ix_buildings_history_footprint", "public.buildings_history", "footprint"),
)
REFERENCES = (
    ("buildings_history_batch_id_fkey", "batch_id"),
    ("buildings_history_closed_by_fkey", "closed_by"),
)


def upgrade() -> None:
    drops = "\n".join(f"DROP INDEX IF EXISTS public.{name};" for name, _, _ in INDEXES)
    drops += "\n" + "\n".join(
        f"ALTER TABLE public.buildings_history DROP CONSTRAINT IF EXISTS {name};" for name, _ in REFERENCES
    )
    creates = "\n".join(
        f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gist ({column});" for name, table, column in INDEXES
    )
    for name, column in REFERENCES:
        creates += f"""
            IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE conname = '{name}'
                           AND conrelid = 'public.buildings_history'::regclass) THEN
                ALTER TABLE public.buildings_history ADD CONSTRAINT {name}
                    FOREIGN KEY ({column}) REFERENCES public.import_batches (id);
            END IF;"""
    for function, body in (("gridmap_buildings_bulk_begin", drops), ("gridmap_buildings_bulk_end", creates)):
        op.execute(
            f"""CREATE OR REPLACE FUNCTION {function}() RETURNS void
                LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
                BEGIN
                    {body}
                END $$"""
        )
        op.execute(f"REVOKE ALL ON FUNCTION {function}() FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS gridmap_buildings_bulk_begin()")
    op.execute("DROP FUNCTION IF EXISTS gridmap_buildings_bulk_end()")
