"""Undoing a batch: every row a batch wrote goes back to what it was, as a new batch, when nothing has changed those
rows since; otherwise the refusal names the rows in the way. Undoing makes new versions: history keeps both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.basedata.batches import batch as open_batch
from gis.basedata.batches import finish, get_batch
from gis.basedata.carry import Carried, carry
from gis.basedata.keyed import Written
from gis.db.engine import psycopg_connection
from gis.db.models import HISTORY_TABLES
from gis.errors import Conflict, InvalidInput
from gis.layers.catalog import get_layer
from gis.plans import unit_changes
from gis.settings import Settings

VERSION_META = {"id", "version", "valid_from", "valid_to", "batch_id", "closed_by", "change"}


@dataclass
class Undone:
    batch_id: int
    undo_batch_id: int
    written: Written
    carried: Carried


def undo_batch(session: Session, settings: Settings, batch_id: int, *, actor: str) -> Undone:
    """Revert every row batch `batch_id` wrote, as a new batch, when nothing has changed those rows since;
    otherwise Conflict naming the rows that block it. Undoing makes new versions: history keeps both."""
    done = get_batch(session, batch_id)
    if done.undone_by is not None:
        raise Conflict(f"batch {batch_id} was undone already, by batch {done.undone_by}", where="batch")
    history = HISTORY_TABLES.get(done.layer)
    if history is None:
        raise InvalidInput(f"batch {batch_id} ({done.layer}) kept no versions to undo", where="batch")
    table = sql.Identifier(done.layer)
    h = sql.Identifier(history.name)
    columns = [c.name for c in history.columns if c.name not in VERSION_META]
    conn = psycopg_connection(session)
    made = conn.execute(
        sql.SQL("SELECT id, version, change, valid_to IS NOT NULL FROM {} WHERE batch_id = %s ORDER BY id").format(h),
        [batch_id],
    ).fetchall()
    closed = conn.execute(
        sql.SQL("""SELECT h.id, h.version, EXISTS (SELECT 1 FROM {h} n WHERE n.id = h.id AND n.version > h.version
                                                  AND n.batch_id IS DISTINCT FROM %s)
                   FROM {h} h WHERE h.closed_by = %s
                     AND NOT EXISTS (SELECT 1 FROM {h} n WHERE n.id = h.id AND n.version = h.version + 1
                                     AND n.batch_id = %s)""").format(h=h),
        [batch_id, batch_id, batch_id],
    ).fetchall()
    blocking = sorted({r[0] for r in made if r[3]} | {r[0] for r in closed if r[2]})
    if blocking:
        shown = ", ".join(map(str, blocking[:20])) + (" …" if len(blocking) > 20 else "")
        raise Conflict(
            f"batch {batch_id} cannot be undone: {len(blocking)} of its {done.layer} rows changed since "
            f"(ids {shown}); undo the later batches first",
            where="batch",
        )
    written = Written(done.layer)
    geometry = get_layer(done.layer).geometry_column
    with open_batch(
        session, kind="undo", layer=done.layer, actor=actor, source=f"undo of batch {batch_id}", undo_of=batch_id
    ) as undo:
        conn = psycopg_connection(session)
        added = [r[0] for r in made if r[2] in ("insert", "revive")]
        if added:
            returning = sql.SQL("id, unit_id, community_id" if done.layer == "buildings" else "id, NULL, NULL")
            if done.layer == "facilities":
                returning = sql.SQL("id, category, NULL")
            rows = conn.execute(
                sql.SQL("DELETE FROM {} WHERE id = ANY(%s) RETURNING {}").format(table, returning), [added]
            ).fetchall()
            written.retired_ids = [r[0] for r in rows]
            if done.layer == "buildings":
                written.retired = [unit_changes.RetiredBuilding(r[0], r[1], r[2]) for r in rows]
            if done.layer == "facilities":
                written.categories |= {r[1] for r in rows}
        changed = [(r[0], r[1]) for r in made if r[2] == "update"]
        if changed:
            ids = [i for i, _ in changed]
            if done.layer == "facilities":
                written.categories |= _categories_of(conn, ids)
            pairs = [ids, [v for _, v in changed]]
            reshaped = conn.execute(
                sql.SQL("""SELECT t.id FROM unnest(%s::bigint[], %s::int[]) AS m(id, version)
                           JOIN {t} t ON t.id = m.id JOIN {h} p ON p.id = m.id AND p.version = m.version - 1
                           WHERE t.{g} IS DISTINCT FROM p.{g}""").format(t=table, h=h, g=sql.Identifier(geometry)),
                pairs,
            ).fetchall()
            sets = sql.SQL(", ").join(sql.SQL("{c} = p.{c}").format(c=sql.Identifier(c)) for c in columns)
            conn.execute(
                sql.SQL("""UPDATE {t} t SET {sets} FROM unnest(%s::bigint[], %s::int[]) AS m(id, version)
                           JOIN {h} p ON p.id = m.id AND p.version = m.version - 1 WHERE t.id = m.id""").format(
                    t=table, sets=sets, h=h
                ),
                pairs,
            )
            written.updated = ids
            written.reshaped = [r[0] for r in reshaped]
            if done.layer == "facilities":
                written.categories |= _categories_of(conn, ids)
        restored = [(r[0], r[1]) for r in closed]
        if restored:
            listed = sql.SQL(", ").join(map(sql.Identifier, ["id", *columns]))
            picked = sql.SQL(", ").join(sql.Identifier("p", c) for c in ["id", *columns])
            rows = conn.execute(
                sql.SQL("""INSERT INTO {t} ({listed}) SELECT {picked}
                           FROM unnest(%s::bigint[], %s::int[]) AS m(id, version)
                           JOIN {h} p ON p.id = m.id AND p.version = m.version RETURNING id""").format(
                    t=table, listed=listed, picked=picked, h=h
                ),
                [[i for i, _ in restored], [v for _, v in restored]],
            ).fetchall()
            written.inserted = [r[0] for r in rows]
            if done.layer == "facilities":
                written.categories |= _categories_of(conn, written.inserted)
        carried = carry(session, settings, undo, written)
        session.execute(
            text("UPDATE import_batches SET undone_by = :undo WHERE id = :id"), {"undo": undo.id, "id": batch_id}
        )
        finish(
            session,
            undo,
            {"undo_of": batch_id, **written.counts(), "notes": carried.notes, "coverage_run": carried.coverage_run},
            audit_after={"undo_of": batch_id, **written.counts()},
        )
    return Undone(batch_id, undo.id, written, carried)


def _categories_of(conn: Any, ids: list[int]) -> set[str]:
    if not ids:
        return set()
    return {r[0] for r in conn.execute("SELECT DISTINCT category FROM facilities WHERE id = ANY(%s)", [ids])}
