"""buildings bulk load: an import that at least doubles the buildings builds their secondary indexes once, at the end

Inserting a city's 194,060 buildings kept nine secondary indexes of `buildings` and `buildings_history` up to date
row by row — the two GiST indexes on footprints alone 2.5 of the 6 s the insert took — and checked the two
`import_batches` references of every history row one at a time (0.9 s). Built once after the rows are in
(PostGIS sorts them first) an index takes a fraction of that; a foreign key added back is checked by one join.
Unique indexes stay (they check the rows as they go in), and so does the history's index on codes, by which the
insert finds the old row of a key that comes back.

Two SECURITY DEFINER functions, owned by the schema's owner, let the app (which owns nothing) do exactly this and
nothing else: `gridmap_buildings_bulk_begin()` drops those indexes and the two constraints, and
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

# (name, table, method and columns): indexes nothing in the insert or its history trigger reads. The keys stay
# (unique: checked as rows go in), and so does the history's code index (a retired key's row is looked up by it).
INDEXES = (
    ("ix_buildings_footprint", "public.buildings", "gist (footprint)"),
    ("ix_buildings_community_id", "public.buildings", "btree (community_id)"),
    ("ix_buildings_compound", "public.buildings", "btree (compound)"),
    ("ix_buildings_unit_id", "public.buildings", "btree (unit_id)"),
    ("ix_buildings_history_footprint", "public.buildings_history", "gist (footprint)"),
    ("ix_buildings_history_open", "public.buildings_history", "btree (id) WHERE valid_to IS NULL"),
    ("ix_buildings_history_batch", "public.buildings_history", "btree (batch_id)"),
    ("ix_buildings_history_closed_by", "public.buildings_history", "btree (closed_by)"),
    ("ix_buildings_history_valid", "public.buildings_history", "btree (valid_from, valid_to)"),
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
    creates = "\n".join(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING {how};" for name, table, how in INDEXES)
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
