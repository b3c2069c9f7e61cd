"""Units of a whole city as a batch job (gis/plans/unit_store.build_units_for over gis/batch.py): the same city gives
the same units, building links and adjacency in process, on a LocalCluster of two worker processes and on a real
loopback scheduler with two workers — and a small job never leaves the process."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.synthetic_city import synthetic_city
from data.demo import District
from gis import batch
from gis.exchange.load import import_frame
from gis.geo import dataset
from gis.plans import unit_store
from gis.plans.units import community_units
from gis.settings import Settings

CITY_BUILDINGS = 4_000  # a few communities: enough parts for every worker


@pytest.fixture(scope="module")
def city() -> District:
    return synthetic_city(CITY_BUILDINGS, seed=11)


def _load(session: Session, city: District, settings: Settings) -> list[int]:
    for layer in ("districts", "streets", "communities", "buildings", "network"):
        import_frame(session, layer, getattr(city, layer), settings=settings)
    return unit_store.communities_without_units(session)


def _stored(session: Session) -> dict[str, Any]:
    """Units by community code and position (ids come from sequences, which a rollback does not rewind)."""
    rows = session.execute(
        text("""SELECT c.code, u.id, u.kind, u.compound, u.households, u.buildings, u.population,
                       ST_AsBinary(u.geom) AS geom
                FROM units u JOIN communities c ON c.id = u.community_id ORDER BY c.code, u.id""")
    ).all()
    position: dict[int, tuple[str, int]] = {}
    units: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        mine = units.setdefault(row.code, [])
        position[row.id] = (row.code, len(mine))
        mine.append((row.kind, row.compound, row.households, row.buildings, row.population, bytes(row.geom)))
    links = {
        code: position[unit]
        for code, unit in session.execute(text("SELECT code, unit_id FROM buildings WHERE unit_id IS NOT NULL"))
    }
    adjacency = sorted(
        (position[a], position[b]) for a, b in session.execute(text("SELECT unit_a, unit_b FROM unit_adjacency"))
    )
    return {"units": units, "links": links, "adjacency": adjacency}


def test_units_are_the_same_wherever_the_communities_ran(
    session: Session, settings: Settings, city: District, batch_place: str
) -> None:
    communities = _load(session, city, settings)
    assert len(communities) >= 3

    # The parts themselves: exactly the same numbers and shapes from every place.
    grounds, _ = unit_store._grounds(session, communities, dataset.metric_epsg(session))
    here = [community_units(ground) for ground in grounds]
    there = batch.map_parts(community_units, grounds, where=batch_place)
    for a, b in zip(here, there, strict=True):
        assert a.community_id == b.community_id
        assert a.units.equals(b.units)
        assert a.storage_wkb.tolist() == b.storage_wkb.tolist()
        assert a.building_unit.equals(b.building_unit)
        assert (a.adjacency == b.adjacency).all() and a.notes == b.notes

    # The whole job, stored: the same as the job run in process.
    reference = session.begin_nested()
    unit_store.build_units_for(session, communities, where=batch.INLINE)
    expected = _stored(session)
    reference.rollback()
    built = unit_store.build_units_for(session, communities, where=batch_place)
    got = _stored(session)

    assert got == expected
    assert [b.community for b in built] == sorted(got["units"])
    (unlinked,) = session.execute(text("SELECT count(*) FROM buildings WHERE unit_id IS NULL")).one()
    assert unlinked == 0 and len(got["links"]) == len(city.buildings)


def test_a_small_job_runs_in_process(monkeypatch: pytest.MonkeyPatch, demo_session: Session) -> None:
    """The server's own rebuilds (one community, the demo) never start a cluster: map_parts is asked inline."""
    places: list[str | None] = []
    real = batch.map_parts

    def spy(function: Any, parts: Any, *args: Any, where: str | None = None) -> Any:
        places.append(where)
        return real(function, parts, *args, where=where)

    monkeypatch.setattr(batch, "map_parts", spy)
    community = demo_session.execute(text("SELECT id FROM communities ORDER BY code LIMIT 1")).scalar_one()
    unit_store.build_units_for(demo_session, [community])
    unit_store.build_community_units(demo_session, community)
    assert places == [batch.INLINE, batch.INLINE]
