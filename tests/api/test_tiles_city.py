"""Building tiles at city density (issue 18): overviews thinned by pixel area and lean below z16, whole at z16, and
every tile kept by data version — a change shows in the next tile, an unchanged tile answers 304.

A synthetic city of about 6,000 buildings (bench.synthetic_city) gives dense blocks of small houses: at z13 most of
them cover less than half a pixel."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from bench.synthetic_city import synthetic_city
from gis.db.engine import transaction
from gis.exchange.load import import_frame
from gis.layers.catalog import LAYERS
from gis.layers.tiles import TILE_PX, WORLD_M, Tile, TileCache
from gis.settings import Settings
from tests.api.test_tiles import tile_of
from tests.conftest import GridmapClient, client_for, fresh_database, rolled_back

MIN_AREA_PX = 0.5  # the buildings layer's Tiles.min_area_px
KIB = 1024


@pytest.fixture(scope="module")
def city_engine(settings: Settings) -> Iterator[Engine]:
    engine = fresh_database(settings, "test_tiles_city")
    city = synthetic_city(6_000)
    with transaction(engine) as session:
        for layer in ("districts", "streets", "communities", "buildings", "grids"):
            import_frame(session, layer, getattr(city, layer), settings=settings)
    yield engine
    engine.dispose()


@pytest.fixture
def city_session(city_engine: Engine) -> Iterator[Session]:
    """A session that never commits: data versions are bumped at each statement instead of at commit."""
    with rolled_back(city_engine) as session:
        session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
        yield session


@pytest.fixture
def city_client(city_engine: Engine, settings: Settings, city_session: Session) -> Iterator[GridmapClient]:
    with client_for(city_engine, settings, city_session) as test_client:
        yield test_client


def densest_tile(session: Session, z: int) -> tuple[int, int]:
    centres = session.execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(footprint) c FROM buildings) b"))
    return Counter(tile_of(lon, lat, z) for lon, lat in centres).most_common(1)[0][0]


def densest_tile_of(engine: Engine, z: int) -> tuple[int, int]:
    with Session(engine) as session:
        return densest_tile(session, z)


def pixel_areas(session: Session, z: int, x: int, y: int) -> dict[int, float]:
    """Buildings within tile z/x/y: their area on the map in square pixels of a 256-pixel tile at zoom z."""
    pixel_m = WORLD_M / 2**z / TILE_PX
    rows = session.execute(
        text("""SELECT id, ST_Area(ST_Transform(footprint, 3857)) / :pixel FROM buildings
                WHERE ST_Within(ST_Transform(footprint, 3857), ST_TileEnvelope(:z, :x, :y))"""),
        {"pixel": pixel_m**2, "z": z, "x": x, "y": y},
    )
    return {building: area for building, area in rows}


def features(client: GridmapClient, path: str) -> list[dict]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return mapbox_vector_tile.decode(response.content).get("buildings", {"features": []})["features"]


def test_overview_tiles_leave_out_buildings_too_small_to_see(city_client: GridmapClient, city_session: Session) -> None:
    x, y = densest_tile(city_session, 13)
    response = city_client.get(f"/tiles/buildings/13/{x}/{y}.pbf")
    assert response.status_code == 200 and len(response.content) <= 500 * KIB
    shown = {f["id"]: f for f in mapbox_vector_tile.decode(response.content)["buildings"]["features"]}
    areas = pixel_areas(city_session, 13, x, y)
    small = {i for i, a in areas.items() if a < MIN_AREA_PX * 0.99}
    large = {i for i, a in areas.items() if a > MIN_AREA_PX * 1.01}
    assert len(small) > len(areas) / 4 and large  # a dense tile: many houses of under half a pixel
    assert large <= set(shown) and not small & set(shown)
    assert all(f["properties"] == {} for f in shown.values())  # lean: the planner's style reads none

    # The smallest of them is in its tile at z16, whole and with its properties.
    smallest = min(areas, key=areas.__getitem__)
    lon, lat = city_session.execute(
        text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(footprint) p FROM buildings WHERE id = :id) b"),
        {"id": smallest},
    ).one()
    x16, y16 = tile_of(lon, lat, 16)
    detail = {f["id"]: f for f in features(city_client, f"/tiles/buildings/16/{x16}/{y16}.pbf")}
    assert smallest in detail
    assert set(detail[smallest]["properties"]) >= {"households", "residential", "floors", "community_code"}


def test_tiles_of_the_densest_area_stay_small_at_every_zoom(city_client: GridmapClient, city_session: Session) -> None:
    for z in (13, 14, 15, 16):
        x, y = densest_tile(city_session, z)
        response = city_client.get(f"/tiles/buildings/{z}/{x}/{y}.pbf")
        assert response.status_code == 200 and 0 < len(response.content) <= 500 * KIB, (z, len(response.content))


def test_building_tiles_carry_no_personal_fields(city_client: GridmapClient, city_session: Session) -> None:
    city_session.execute(text("UPDATE buildings SET address = '望春街道 8 号 张三', population_resident = 4321"))
    allowed = {a.name for a in LAYERS["buildings"].tile_attributes}
    for z in (13, 16):
        x, y = densest_tile(city_session, z)
        content = city_client.get(f"/tiles/buildings/{z}/{x}/{y}.pbf").content
        keys = {k for f in mapbox_vector_tile.decode(content)["buildings"]["features"] for k in f["properties"]}
        assert keys <= allowed and not keys & {"address", "compound", "population_resident", "population_floating"}
        assert "张三".encode() not in content and "望春".encode() not in content


def test_a_changed_building_shows_in_the_next_tile(city_client: GridmapClient, city_session: Session) -> None:
    """The cache is keyed by the data version the buildings table's trigger bumps, not by time: the same tile
    is served from the cache until a building changes, then made again from the changed rows."""
    x, y = densest_tile(city_session, 16)
    path = f"/tiles/buildings/16/{x}/{y}.pbf"
    before = {f["id"]: f for f in features(city_client, path)}
    cache: TileCache = city_client.app.state.tile_cache
    hits = cache.hits
    assert features(city_client, path) == list(before.values()) and cache.hits == hits + 1

    changed = next(iter(before))
    city_session.execute(text("UPDATE buildings SET floors = 99 WHERE id = :id"), {"id": changed})
    after = {f["id"]: f for f in features(city_client, path)}
    assert after[changed]["properties"]["floors"] == 99 and cache.hits == hits + 1

    # Moved out of the tile: gone from it at once, and in the tile it moved to.
    city_session.execute(
        text("UPDATE buildings SET footprint = ST_Translate(footprint, 0.02, 0) WHERE id = :id"), {"id": changed}
    )
    assert changed not in {f["id"] for f in features(city_client, path)}
    lon, lat = city_session.execute(
        text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(footprint) p FROM buildings WHERE id = :id) b"),
        {"id": changed},
    ).one()
    x2, y2 = tile_of(lon, lat, 16)
    assert changed in {f["id"] for f in features(city_client, f"/tiles/buildings/16/{x2}/{y2}.pbf")}


def test_a_community_renamed_shows_in_building_tiles(city_client: GridmapClient, city_session: Session) -> None:
    """Building tiles carry their community's code: a change of communities is a change of building tiles."""
    x, y = densest_tile(city_session, 16)
    path = f"/tiles/buildings/16/{x}/{y}.pbf"
    feature = features(city_client, path)[0]
    code = feature["properties"]["community_code"]
    city_session.execute(text("UPDATE communities SET code = code || '-x' WHERE code = :code"), {"code": code})
    again = {f["id"]: f for f in features(city_client, path)}
    assert again[feature["id"]]["properties"]["community_code"] == code + "-x"


def test_an_unchanged_tile_answers_304_also_after_a_change_elsewhere(
    city_client: GridmapClient, city_session: Session
) -> None:
    x, y = densest_tile(city_session, 15)
    path = f"/tiles/buildings/15/{x}/{y}.pbf"
    first = city_client.get(path)
    assert first.headers["cache-control"].startswith("public, max-age")
    tag = first.headers["etag"]
    assert city_client.get(path, headers={"If-None-Match": tag}).status_code == 304
    assert city_client.get(path, headers={"If-None-Match": f'"other", W/{tag}'}).status_code == 304
    assert city_client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200

    # A building far away changes: the tile is made again (new data version), the same, so still 304.
    city_session.execute(
        text("""UPDATE buildings SET floors = coalesce(floors, 1) + 1
                WHERE id = (SELECT id FROM buildings ORDER BY footprint <-> ST_Transform(
                                ST_SetSRID(ST_MakePoint(:mx, :my), 3857), 4326) DESC LIMIT 1)"""),
        {"mx": -WORLD_M / 2 + (x + 0.5) * WORLD_M / 2**15, "my": WORLD_M / 2 - (y + 0.5) * WORLD_M / 2**15},
    )
    misses = city_client.app.state.tile_cache.misses
    again = city_client.get(path, headers={"If-None-Match": tag})
    assert again.status_code == 304 and city_client.app.state.tile_cache.misses == misses + 1


def test_grid_tiles_follow_edits_and_publishing(city_client: GridmapClient, city_session: Session) -> None:
    lon, lat = city_session.execute(
        text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM grids ORDER BY id LIMIT 1) g")
    ).one()
    x, y = tile_of(lon, lat, 15)
    path = f"/tiles/grids/15/{x}/{y}.pbf"

    def names() -> set[str]:
        layer = mapbox_vector_tile.decode(city_client.get(path).content).get("grids", {"features": []})
        return {f["properties"].get("name") for f in layer["features"]}

    assert "新名字" not in names()
    city_session.execute(text("UPDATE grids SET name = '新名字' WHERE id = (SELECT min(id) FROM grids)"))
    assert "新名字" in names()
    # Unpublished (no plan is current): the default grid tiles are empty at once.
    city_session.execute(text("UPDATE grid_plans SET status = 'retired' WHERE status = 'published'"))
    assert names() == set()


def test_the_cache_keeps_within_its_bytes_and_drops_the_least_recently_used() -> None:
    cache = TileCache(3 * (1000 + TileCache.ENTRY_BYTES))
    for key in ("a", "b", "c"):
        cache.put(key, Tile.of(bytes(1000)))
    assert cache.get("a") is not None  # now the most recently used
    cache.put("d", Tile.of(bytes(1000)))
    assert cache.get("b") is None and all(cache.get(k) is not None for k in ("a", "c", "d"))
    assert cache.size <= cache.max_bytes and len(cache) == 3
    cache.put("huge", Tile.of(bytes(cache.max_bytes)))  # larger than the whole cache: not kept, nothing evicted
    assert cache.get("huge") is None and len(cache) == 3
    cache.put("a", Tile.of(b"x"))  # replaced: its old bytes no longer count
    assert cache.size == 2 * (1000 + TileCache.ENTRY_BYTES) + 1 + TileCache.ENTRY_BYTES


def test_no_cache_when_it_is_given_no_bytes(city_engine: Engine, settings: Settings, city_session: Session) -> None:
    with client_for(city_engine, settings.model_copy(update={"tile_cache_bytes": 0}), city_session) as client:
        x, y = densest_tile(city_session, 16)
        assert features(client, f"/tiles/buildings/16/{x}/{y}.pbf")
        assert client.app.state.tile_cache is None


def test_basemap_tiles_follow_their_tables(city_client: GridmapClient, city_session: Session) -> None:
    x, y = densest_tile(city_session, 15)
    path = f"/tiles/basemap/15/{x}/{y}.pbf"

    def labels() -> set[str]:
        layers = mapbox_vector_tile.decode(city_client.anonymous.get(path).content)
        return {f["properties"].get("name") for f in layers.get("boundaries", {"features": []})["features"]}

    assert "改名社区" not in labels()
    city_session.execute(
        text("""UPDATE communities SET name = '改名社区' WHERE id = (
                  SELECT id FROM communities WHERE boundary && ST_Transform(ST_TileEnvelope(15, :x, :y), 4326)
                  ORDER BY id LIMIT 1)"""),
        {"x": x, "y": y},
    )
    assert "改名社区" in labels()


def versions(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {source: version for source, version in conn.execute(text("SELECT source, version FROM tile_versions"))}


def test_committed_changes_bump_versions_at_commit_without_waits(city_engine: Engine, settings: Settings) -> None:
    """Counters move when a change commits, each once per transaction, and writers never wait for each other's
    counters while they work (they are locked only while committing)."""
    before = versions(city_engine)
    app = create_app(settings, engine=city_engine)
    with TestClient(app) as client, city_engine.connect() as first, city_engine.connect() as second:
        x, y = densest_tile_of(city_engine, 16)
        path = f"/tiles/buildings/16/{x}/{y}.pbf"
        tile = client.get(path)
        feature = mapbox_vector_tile.decode(tile.content)["buildings"]["features"][0]
        building, floors = feature["id"], feature["properties"].get("floors")

        first.execute(text("UPDATE buildings SET floors = 77 WHERE id = :id"), {"id": building})
        first.execute(text("UPDATE grids SET name = name WHERE id = (SELECT min(id) FROM grids)"))
        first.execute(text("UPDATE buildings SET households = households WHERE id = :id"), {"id": building})
        assert versions(city_engine) == before and client.get(path).content == tile.content  # not committed yet
        # Another writer of both tables, in the other order, commits meanwhile: no wait on the open transaction.
        second.execute(text("SET lock_timeout = '5s'"))
        second.execute(text("UPDATE grids SET name = name WHERE id = (SELECT max(id) FROM grids)"))
        second.execute(
            text("UPDATE buildings SET floors = floors WHERE id = (SELECT max(id) FROM buildings WHERE id <> :id)"),
            {"id": building},
        )
        second.commit()
        middle = versions(city_engine)
        assert middle["buildings"] == before["buildings"] + 1 and middle["grids"] == before["grids"] + 1
        first.commit()
        after = versions(city_engine)
        assert after["buildings"] == before["buildings"] + 2 and after["grids"] == before["grids"] + 2
        assert {k: v for k, v in after.items() if k not in ("buildings", "grids")} == {
            k: v for k, v in before.items() if k not in ("buildings", "grids")
        }
        shown = {f["id"]: f for f in mapbox_vector_tile.decode(client.get(path).content)["buildings"]["features"]}
        assert shown[building]["properties"]["floors"] == 77
        with city_engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM tile_changes")).scalar_one() == 0
            conn.execute(text("UPDATE buildings SET floors = :f WHERE id = :id"), {"f": floors, "id": building})
