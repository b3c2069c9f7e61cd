"""SQLAlchemy Core over the layer catalog: a layer's table, its attributes as column expressions, its plan.

The read API (features), OGC items (gis/ogc), vector tiles and exports assemble their statements from these
parts with `select()`; values always travel as bound parameters.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    Numeric,
    Select,
    Text,
    and_,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, FromClause

from gis.db.models import HISTORY_TABLES, Base, GridPlan
from gis.errors import BadParameter
from gis.layers.catalog import AsText, Attribute, Layer, Parent, PastDeadline, Rounded
from gis.plans.store import plan_or_current

COORDINATE_DECIMALS = 7  # ~1 cm at the equator
BIGINT = range(-(2**63), 2**63)  # PostgreSQL's bigint: the widest integer a column (or OFFSET) holds


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", re.ASCII)


def parse_as_of(value: str) -> datetime:
    """`as_of` as an instant: a date (YYYY-MM-DD) is the end of that day, and a date-time without an offset is
    read, in the server's local time zone; a date-time with an offset (or Z) is that instant."""
    text = value.strip()
    try:
        if _DATE.match(text):
            return datetime.combine(date.fromisoformat(text), time.max).astimezone()
        if _DATETIME.match(text):
            instant = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            return instant if instant.tzinfo else instant.astimezone()
    except (ValueError, OverflowError):
        pass
    raise BadParameter(
        f"as_of: {value!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time (YYYY-MM-DDTHH:MM[:SS][+08:00])",
        where="as_of",
    )


def keeps_history(layer: Layer) -> bool:
    """Whether `as_of` can answer for the layer: its rows are versioned, or (grids) its plans were published."""
    return layer.table in HISTORY_TABLES or layer.plan_scoped


def table_of(layer: Layer, as_of: datetime | None = None) -> FromClause:
    """The layer's table, as `t` (a parent read by a derived value is `p`).

    With `as_of`, the rows of a versioned layer as they were then: the versions valid at that instant, from its
    history table, with the current table's columns (a column without history reads NULL) — so every statement
    built on `t` works unchanged, and a retired row appears where it still existed. Grids are not versioned:
    `as_of` picks their plan (`plan_for`), so their table is the current one. Other layers refuse `as_of`."""
    current = Base.metadata.tables[layer.table]
    if as_of is None or layer.plan_scoped:
        return current.alias("t")
    history = HISTORY_TABLES.get(layer.table)
    if history is None:
        raise BadParameter(f"as_of: the {layer.name} layer keeps no history; ask without as_of", where="as_of")
    at = literal(as_of, DateTime(timezone=True))
    return (
        select(*(history.c[c.name] if c.name in history.c else cast(null(), c.type).label(c.name) for c in current.c))
        .where(history.c.valid_from <= at, or_(history.c.valid_to.is_(None), history.c.valid_to > at))
        .subquery("t")
    )


def plan_for(session: Session, plan_id: int | None, as_of: datetime | None = None) -> int | None:
    """The plan a plan-scoped read shows: the one asked for (404 if it does not exist), else the one published at
    `as_of` (None before the first was published), else the current one."""
    if plan_id is not None or as_of is None:
        return plan_or_current(session, plan_id)
    p = GridPlan.__table__
    at = literal(as_of, DateTime(timezone=True))
    # A plan published again after it was retired keeps its old effective_to: while published, it has no end.
    ended = or_(p.c.status == "published", p.c.effective_to > at)
    published_then = select(p.c.id).where(p.c.effective_from <= at, ended).order_by(p.c.effective_from.desc())
    return session.execute(published_then.limit(1)).scalar_one_or_none()


def column(t: FromClause, attribute: Attribute) -> ColumnElement[Any]:
    """The attribute's value for a row of `t`, unlabelled (filters use it as well as select lists)."""
    match attribute.source:
        case None | str():
            return t.c[attribute.stored_column]
        case Parent(table=parent, key=key, column=name):
            p = Base.metadata.tables[parent].alias("p")
            return select(p.c[name]).where(p.c.id == t.c[key]).scalar_subquery()
        case Rounded(column=name, digits=digits):
            return cast(func.round(cast(t.c[name], Numeric), digits), Float)
        case AsText(column=name):
            return cast(t.c[name], Text)
        case PastDeadline(deadline=deadline, status=status, finished=finished):
            due = t.c[deadline]
            return and_(due.is_not(None), due < func.now(), t.c[status].not_in(finished))
    raise TypeError(f"{attribute.name}: unknown source {attribute.source!r}")


def columns(t: FromClause, attributes: tuple[Attribute, ...]) -> list[ColumnElement[Any]]:
    """The attributes as labelled select-list entries, in declaration order."""
    return [column(t, a).label(a.name) for a in attributes]


def geometry(t: FromClause, layer: Layer) -> ColumnElement[Any]:
    return t.c[layer.geometry_column]


def equals(expression: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    """`expression = value`, bound. Integers go as bigint, so any value fits an int4 column's comparison; one
    beyond bigint matches nothing (no column holds it) rather than failing in the database."""
    if isinstance(value, int) and not isinstance(value, bool):
        return expression == literal(value, BigInteger) if value in BIGINT else false()
    return expression == literal(value, expression.type)


def by_id(t: FromClause, feature_id: int) -> ColumnElement[bool]:
    return equals(t.c.id, feature_id)


def page(statement: Select[Any], limit: int, offset: int) -> Select[Any]:
    """One page of a statement: LIMIT and OFFSET bound as bigint (an offset past int4 is a valid request)."""
    return statement.limit(literal(limit, BigInteger)).offset(literal(offset, BigInteger))


def in_plan(t: FromClause, plan_id: int | None) -> ColumnElement[bool]:
    """The rows of one grid plan; none without a plan (nothing is published before grids are imported)."""
    return t.c.plan_id == plan_id if plan_id is not None else false()


def geojson(geom: ColumnElement[Any], decimals: int = COORDINATE_DECIMALS) -> ColumnElement[str]:
    """A stored (WGS 84) geometry as GeoJSON text."""
    return func.ST_AsGeoJSON(geom, decimals)
