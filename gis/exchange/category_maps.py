"""Category maps: a source's own facility classes → the registry's facility categories (data/facility_categories.toml).

A file from elsewhere names its facilities in its own vocabulary: Geofabrik's OSM shapefiles have `fclass` (school,
clinic, atm, ...), a city register its own class names. A map says, value by value, which registry category each one
is; a value it does not list stays without a category and its row is reported — never guessed.

Raw OpenStreetMap tags (amenity=school, as `gridmap import osm` reads them) are mapped by the registry's own `osm`
lists (FacilityRegistry.osm_category, used by gis.exchange.osm); the built-in map `osm` covers the fclass vocabulary,
mapping each class to the category of the tag it stands for.

A map file is TOML:

    column = "fclass"            # or columns = ["type", "subtype"]: the first that has a listed value decides
    [categories]
    school = "primary_school"    # source value = registry category code
    "社区卫生服务站" = "health_station"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from gis.errors import FileRejected
from gis.registry import facility_registry

if TYPE_CHECKING:
    import geopandas as gpd

BUILT_IN_FOLDER = "category_maps"  # in the `data` package: <name>.toml is the built-in map <name>
KEYS = {"name", "column", "columns", "categories"}
WHERE = "category_map"


@dataclass(frozen=True)
class CategoryMap:
    name: str  # "osm", or the file's `name` (its stem by default)
    columns: tuple[str, ...]  # source columns, in the order they are tried
    mapping: dict[str, str]  # source value → registry category code


def built_in_maps() -> list[str]:
    folder = resources.files("data").joinpath(BUILT_IN_FOLDER)
    return sorted(entry.name.removesuffix(".toml") for entry in folder.iterdir() if entry.name.endswith(".toml"))


def load_category_map(name_or_path: str) -> CategoryMap:
    """A built-in map by name ("osm"), or a TOML map file; refused (FileRejected) when malformed or when it names
    a category the registry does not have."""
    if name_or_path in built_in_maps():
        entry = resources.files("data").joinpath(BUILT_IN_FOLDER, f"{name_or_path}.toml")
        return _parse(
            entry.read_text(encoding="utf-8"), default_name=name_or_path, source=f"built-in map {name_or_path}"
        )
    path = Path(name_or_path)
    if not path.is_file():
        raise FileRejected(
            f"{name_or_path}: no such category map; give a .toml file or a built-in map ({', '.join(built_in_maps())})",
            where=WHERE,
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileRejected(f"{path.name}: cannot read the category map: {exc}", where=WHERE) from exc
    return _parse(text, default_name=path.stem, source=path.name)


def _parse(text: str, *, default_name: str, source: str) -> CategoryMap:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FileRejected(f"{source}: not valid TOML: {exc}", where=WHERE) from exc
    unknown_keys = sorted(set(raw) - KEYS)
    if unknown_keys:
        raise FileRejected(
            f"{source}: unknown keys {', '.join(unknown_keys)}; a category map has `column` (or `columns`), "
            "a [categories] table and optionally `name`",
            where=WHERE,
        )
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise FileRejected(f"{source}: `name` must be text", where=WHERE)
    columns = _columns(raw, source)
    categories = raw.get("categories")
    if not isinstance(categories, dict) or not categories:
        raise FileRejected(f'{source}: needs a [categories] table of `source value = "category code"`', where=WHERE)
    mapping: dict[str, str] = {}
    for value, code in categories.items():
        if not isinstance(code, str):
            raise FileRejected(f"{source}: [categories] {value!r} must name a category code as text", where=WHERE)
        mapping[value.strip()] = code.strip()
    known = facility_registry().categories
    unknown = sorted({code for code in mapping.values() if code not in known})
    if unknown:
        what = "is not a facility category" if len(unknown) == 1 else "are not facility categories"
        raise FileRejected(f"{source}: {', '.join(unknown)} {what}; the registry has {', '.join(known)}", where=WHERE)
    return CategoryMap(name=name.strip(), columns=columns, mapping=mapping)


def _columns(raw: dict[str, Any], source: str) -> tuple[str, ...]:
    if ("column" in raw) == ("columns" in raw):
        raise FileRejected(
            f'{source}: give the source column as `column = "fclass"` (or `columns = [...]`)', where=WHERE
        )
    given = raw.get("column", raw.get("columns"))
    columns = [given] if isinstance(given, str) else given
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) and c.strip() for c in columns):
        raise FileRejected(f"{source}: `column` must be a column name (`columns` a list of them)", where=WHERE)
    return tuple(c.strip() for c in columns)


def map_categories(frame: gpd.GeoDataFrame, category_map: CategoryMap) -> tuple[gpd.GeoDataFrame, dict[int, str]]:
    """A copy of `frame` whose `category` holds the registry code of each row's source value, and for each row left
    without one (by 0-based position) the reason. Such rows keep category None: a row is never given a guess.

    Refused (FileRejected) when the frame has none of the map's columns: every row would be unmapped."""
    present = [c for c in category_map.columns if c in frame.columns]
    if not present:
        raise FileRejected(
            f"category map {category_map.name} reads column {' or '.join(category_map.columns)}, which the file "
            f"does not have (it has {', '.join(map(str, frame.columns))})",
            where=WHERE,
        )
    # Object columns throughout: pandas' string columns would turn None into NaN.
    values = {c: pd.Series([_text(v) for v in frame[c]], index=frame.index, dtype=object) for c in present}
    category = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    for column in present:  # the first column with a listed value decides
        found = values[column].map(category_map.mapping)
        category = category.where(category.notna(), found.astype(object).where(found.notna(), None))
    reasons: dict[int, str] = {}
    for position in (~category.notna()).to_numpy().nonzero()[0]:
        seen = [(c, values[c].iloc[position]) for c in present if values[c].iloc[position] is not None]
        if not seen:
            reasons[int(position)] = f"no {' or '.join(present)} value to map (map {category_map.name})"
            continue
        named = ", ".join(f"{c} {v!r}" for c, v in seen)
        verb = "has" if len(seen) == 1 else "have"
        reasons[int(position)] = f"{named} {verb} no category in map {category_map.name}"
    mapped = frame.copy()
    mapped["category"] = category
    return mapped, reasons


def _text(value: object) -> str | None:
    """A source value as the map's keys are written: text, stripped; whole numbers without ".0"; empty → None."""
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None
