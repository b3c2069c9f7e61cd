"""Category maps: another vocabulary's facility classes (Geofabrik `fclass`, a register's names) → registry codes."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from gis.errors import FileRejected
from gis.exchange.category_maps import CategoryMap, built_in_maps, load_category_map, map_categories
from gis.registry import facility_registry


def pois(**columns: list[object]) -> gpd.GeoDataFrame:
    n = len(next(iter(columns.values())))
    return gpd.GeoDataFrame(columns, geometry=[shapely.Point(121.55 + i * 1e-4, 29.87) for i in range(n)], crs=4326)


def test_osm_map_is_built_in_and_names_only_registry_categories() -> None:
    osm = load_category_map("osm")

    assert "osm" in built_in_maps()
    assert osm.name == "osm" and osm.columns == ("fclass",)
    assert set(osm.mapping.values()) <= set(facility_registry().categories)
    assert {
        "school": "primary_school",
        "kindergarten": "kindergarten",
        "hospital": "health_center",
        "clinic": "health_station",
        "doctors": "health_station",
        "pharmacy": "convenience_store",
        "post_office": "post_office",
        "library": "cultural_center",
        "community_centre": "community_service_station",
        "nursing_home": "elderly_care_home",
        "market_place": "market",
        "supermarket": "market",
        "park": "park",
        "playground": "fitness_ground",
        "sports_centre": "sports_center",
        "toilet": "public_toilet",
    }.items() <= osm.mapping.items()
    for unmapped in ("police", "atm", "fire_station", "dentist", "university", "waste_basket"):
        assert unmapped not in osm.mapping  # no registry category is that facility


def test_osm_fclass_map_agrees_with_the_registrys_osm_tags() -> None:
    """One concept, two vocabularies: an fclass spelled like an OSM tag value maps where the registry maps the tag."""
    registry = facility_registry()
    osm = load_category_map("osm").mapping
    checked = 0
    for category in registry.categories.values():
        for tag in category.osm:
            key, value = tag.split("=", 1)
            if value in osm:
                assert osm[value] == registry.osm_category({key: value}), tag
                checked += 1
    assert checked >= 20


def test_map_categories_maps_known_values_and_explains_the_rest() -> None:
    frame = pois(
        fclass=["school", "atm", None, " park ", "police", "kindergarten"],
        category=["old", "old", "old", "old", "old", "old"],
        name=["实验小学", "ATM", "无类别", "月湖公园", "派出所", "幼儿园"],
    )

    mapped, unmapped = map_categories(frame, load_category_map("osm"))

    assert list(mapped["category"]) == ["primary_school", None, None, "park", None, "kindergarten"]
    assert unmapped == {
        1: "fclass 'atm' has no category in map osm",
        2: "no fclass value to map (map osm)",
        4: "fclass 'police' has no category in map osm",
    }
    assert list(frame["category"]) == ["old"] * 6  # the input is left alone
    assert list(mapped["name"]) == list(frame["name"]) and mapped.geometry.equals(frame.geometry)


def test_a_map_file_with_chinese_values_and_two_columns(tmp_path: Path) -> None:
    path = tmp_path / "街道台账.toml"
    path.write_text(
        'name = "海曙台账"\ncolumns = ["小类", "大类"]\n\n[categories]\n'
        '"社区卫生服务站" = "health_station"\n"养老" = "elderly_care_home"\n3 = "bank"\n',
        encoding="utf-8",
    )
    category_map = load_category_map(str(path))
    frame = pois(小类=["社区卫生服务站", "棋牌室", None, None], 大类=["医疗", "养老", "文体", 3.0])

    mapped, unmapped = map_categories(frame, category_map)

    assert category_map == CategoryMap(
        "海曙台账", ("小类", "大类"), {"社区卫生服务站": "health_station", "养老": "elderly_care_home", "3": "bank"}
    )
    assert list(mapped["category"]) == ["health_station", "elderly_care_home", None, "bank"]
    assert unmapped == {2: "大类 '文体' has no category in map 海曙台账"}


def test_a_frame_without_the_maps_column_is_refused() -> None:
    with pytest.raises(FileRejected, match="reads column fclass, which the file does not have") as refused:
        map_categories(pois(type=["school"]), load_category_map("osm"))

    assert refused.value.where == "category_map"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'column = "fclass"\n[categories]\nschool = "primary_school"\ncasino = "casino"\n',
            "casino is not a facility category",
        ),
        ('column = "fclass"\n[categories]\na = "x"\nb = "y"\n', "x, y are not facility categories"),
        ('[categories]\nschool = "primary_school"\n', "give the source column"),
        ('column = "fclass"\n', r"needs a \[categories\] table"),
        ('column = "fclass"\n[category]\nschool = "primary_school"\n', "unknown keys category"),
        ('column = "fclass"\n[categories]\nschool = 3\n', "must name a category code"),
        ("column = fclass\n", "not valid TOML"),
    ],
)
def test_bad_map_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "map.toml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(FileRejected, match=message) as refused:
        load_category_map(str(path))

    assert refused.value.where == "category_map"


def test_an_unknown_map_name_lists_the_built_in_ones(tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match=r"no such category map; .*built-in map \(osm"):
        load_category_map(str(tmp_path / "geofabrik"))
