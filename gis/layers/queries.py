"""SQLAlchemy Core over the layer catalog: a layer's table, its attributes as column expressions, its plan.

The read API (features), OGC items (gis/ogc), vector tiles and exports assemble their statements from these
parts with `select()`; values always travel as bound parameters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Float, Numeric, Select, Text, and_, cast, false, func, literal, select
from sqlalchemy.sql.expression import ColumnElement, FromClause

from gis.db.models import Base
from gis.layers.catalog import AsText, Attribute, Layer, Parent, PastDeadline, Rounded

COORDINATE_DECIMALS = 7  # ~1 cm at the equator
BIGINT = range(-(2**63), 2**63)  # PostgreSQL's bigint: the widest integer a column (or OFFSET) holds


def table_of(layer: Layer) -> FromClause:
    """The layer's table, as `t` (a parent read by a derived value is `p`)."""
    return Base.metadata.tables[layer.table].alias("t")


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
