"""The layer catalog (gis/layers/catalog.py) is the one declaration behind the read API, /ogc, tiles and downloads;
public outputs carry public fields only, and statements built from it bind every value."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import cast

import pytest
from sqlalchemy.dialects.postgresql import psycopg
from sqlalchemy.orm import Session

from api.app import create_app
from gis.layers import queries
from gis.layers.catalog import LAYERS, Field, Layer, Tiles
from gis.layers.tiles import TILE_LAYERS
from gis.ogc.collections import COLLECTIONS, ItemQuery, TableCollection
from gis.ogc.crs import CRS84, parse_bbox

SENTINEL = "x'); DROP TABLE grids; --"


def test_every_served_surface_is_derived_from_the_catalog() -> None:
    paths = set(create_app().openapi()["paths"])
    for name, layer in LAYERS.items():
        assert (f"/api/{name}/{{feature_id}}" in paths) == layer.read_api, name
        assert f"/api/{name}/download" in paths
    assert set(TILE_LAYERS) == {name for name, layer in LAYERS.items() if layer.tiles}
    stored = [c for c in COLLECTIONS.values() if isinstance(c, TableCollection)]
    assert [c.id for c in stored] == list(LAYERS)  # catchments are the one computed collection
    for c in stored:
        assert [p.name for p in c.properties] == [a.name for a in c.layer.served]
        assert (c.tiles is not None) == (c.id in TILE_LAYERS)


@pytest.mark.parametrize("layer", list(LAYERS.values()), ids=list(LAYERS))
def test_public_outputs_carry_no_private_field(layer: Layer) -> None:
    private = {f.name for f in layer.fields if not f.public}
    public = [*layer.served, *layer.tile_attributes, *layer.file_attributes("public")]
    assert not private & {a.name for a in public}
    assert {a.name for a in layer.file_attributes("staff")} >= {f.name for f in layer.fields}  # exports keep all


def test_a_private_field_in_a_public_output_is_refused() -> None:
    fields = (Field("category"), Field("contact", public=False))
    with pytest.raises(ValueError, match="contact"):
        Layer("probe", "incidents", "location", "point", "探针", fields, tiles=Tiles(8, ("category", "contact")))


def test_the_catalog_loads_no_database_library() -> None:
    """The CLI reads layer names at start-up: the catalog must stay plain data."""
    probe = (
        "import sys, gis.layers.catalog; "
        "print(any(m.split('.')[0] in ('sqlalchemy', 'geoalchemy2') for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_statements_bind_every_value() -> None:
    incidents = COLLECTIONS["incidents"]
    assert isinstance(incidents, TableCollection) and not incidents.plan_scoped  # no plan to look up
    start = datetime(2026, 1, 1, tzinfo=UTC)
    query = ItemQuery(
        bbox=parse_bbox("121.5,29.8,121.6,29.9", CRS84),
        filters={"grid_code": SENTINEL, "overdue": True},
        interval=(start, None),
    )
    t = queries.table_of(incidents.layer)
    where = incidents._conditions(cast(Session, None), t, query)
    statement = queries.page(incidents._select(t, CRS84).where(*where), 10, 20).compile(dialect=psycopg.dialect())
    assert SENTINEL not in str(statement) and "2026" not in str(statement)
    bound = list(statement.params.values())
    assert all(value in bound for value in (SENTINEL, True, start, 121.5, 29.9, 10, 20))


def test_an_integer_beyond_bigint_matches_nothing_instead_of_failing() -> None:
    t = queries.table_of(LAYERS["buildings"])
    assert str(queries.by_id(t, 2**63)) == "false"
    assert "BIGINT" in str(queries.by_id(t, 2**40).compile(dialect=psycopg.dialect()))
