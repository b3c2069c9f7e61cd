"""Registries kept as TOML in data/: facility categories with their life-circle tiers, grid-code layouts."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


def ascii_digits(text: str) -> bool:
    """Whether `text` is one or more ASCII digits 0-9: an id, code, zoom level, EPSG code or version.

    `str.isdigit()` alone also accepts "²" or "١", which `int()` then refuses (or reads as another number):
    every check that a value is digits goes through here. Codes are digit strings, hence this home.
    """
    return text.isascii() and text.isdigit()


@dataclass(frozen=True)
class Tier:
    minutes: int
    distance_m: float
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class FacilityCategory:
    code: str
    name_zh: str
    name_en: str
    tier: int
    osm: tuple[str, ...]


@dataclass(frozen=True)
class FacilityRegistry:
    tiers: dict[int, Tier]
    categories: dict[str, FacilityCategory]

    def osm_category(self, tags: dict[str, str | None]) -> str | None:
        """The first category whose OSM tags (key=value) match, in registry order."""
        for category in self.categories.values():
            for tag in category.osm:
                key, value = tag.split("=", 1)
                if tags.get(key) == value:
                    return category.code
        return None


def _load_toml(name: str) -> dict:
    return tomllib.loads(resources.files("data").joinpath(name).read_text(encoding="utf-8"))


@lru_cache
def facility_registry() -> FacilityRegistry:
    raw = _load_toml("facility_categories.toml")
    tiers = {int(k): Tier(**v) for k, v in raw["tiers"].items()}
    categories = {
        c["code"]: FacilityCategory(c["code"], c["name_zh"], c["name_en"], int(c["tier"]), tuple(c.get("osm", ())))
        for c in raw["category"]
    }
    unknown = {c.tier for c in categories.values()} - tiers.keys()
    if unknown:
        raise ValueError(f"facility_categories.toml: categories use undefined tiers {sorted(unknown)}")
    return FacilityRegistry(tiers, categories)


# -- grid-code layouts (data/code_layouts.toml) --------------------------------------------------------------

CODE_SEGMENTS = ("service", "county", "street", "community", "sequence")
CODE_NUMBERINGS = ("left_to_right_top_to_bottom", "west_to_east_north_to_south")  # the same rule, two names


@dataclass(frozen=True)
class CodeLayout:
    """How a jurisdiction writes grid codes (DOMAIN.md §3): segments concatenated in order, widths in digits."""

    name: str  # key in code_layouts.toml, as stored on a plan (e.g. "cjt349")
    service_code: str  # managed-object class (CJ/T 348); "" when the layout has no service segment
    segments: tuple[tuple[str, int], ...]  # (segment, width), e.g. (("service", 6), ("county", 6), ...)
    merged_community_start: int  # first community segment of grids merged across communities
    numbering: str  # one of CODE_NUMBERINGS
    title: str = ""  # human-readable name, e.g. "CJ/T 349-2010 (20位)"

    @property
    def length(self) -> int:
        return sum(width for _, width in self.segments)

    def width(self, segment: str) -> int:
        """Width of a segment in digits (0 when the layout does not have it)."""
        return dict(self.segments).get(segment, 0)


def _parse_code_layout(key: str, raw: dict) -> CodeLayout:
    where = f"code_layouts.toml [layouts.{key}]"
    segments = []
    for item in raw["segments"]:
        segment, _, width = item.partition(":")
        if segment not in CODE_SEGMENTS or not ascii_digits(width) or int(width) < 1:
            raise ValueError(f"{where}: bad segment {item!r}; expected NAME:WIDTH with NAME in {CODE_SEGMENTS}")
        segments.append((segment, int(width)))
    names = [segment for segment, _ in segments]
    if len(set(names)) != len(names) or not {"community", "sequence"} <= set(names):
        raise ValueError(f"{where}: segments must be distinct and include community and sequence, got {names}")
    layout = CodeLayout(
        name=key,
        service_code=str(raw.get("service_code", "")),
        segments=tuple(segments),
        merged_community_start=int(raw["merged_community_start"]),
        numbering=str(raw["numbering"]),
        title=str(raw.get("name", key)),
    )
    service = layout.service_code
    if layout.width("service") != len(service) or not (ascii_digits(service) or not service):
        raise ValueError(f"{where}: service_code {service!r} does not fit the service segment")
    if layout.numbering not in CODE_NUMBERINGS:
        raise ValueError(f"{where}: numbering {layout.numbering!r} is not one of {CODE_NUMBERINGS}")
    return layout


@lru_cache
def _code_layouts() -> tuple[str, dict[str, CodeLayout]]:
    raw = _load_toml("code_layouts.toml")
    layouts = {key: _parse_code_layout(key, value) for key, value in raw["layouts"].items()}
    if raw["default"] not in layouts:
        raise ValueError(f"code_layouts.toml: default {raw['default']!r} is not one of {sorted(layouts)}")
    return raw["default"], layouts


def code_layout(name: str | None = None) -> CodeLayout:
    """The grid-code layout called `name` in data/code_layouts.toml; the default layout when None."""
    default, layouts = _code_layouts()
    key = default if name is None else name
    if key not in layouts:
        raise ValueError(f"unknown code layout {name!r}; known layouts: {', '.join(sorted(layouts))}")
    return layouts[key]


# -- incident categories -------------------------------------------------------------------------------------

STAGES = ("register", "dispatch", "handle", "verify", "close")


@dataclass(frozen=True)
class IncidentCategory:
    code: str
    name_zh: str
    name_en: str
    department: str
    limits_hours: dict[str, float]  # stage → hours allowed


@lru_cache
def incident_categories() -> dict[str, IncidentCategory]:
    raw = _load_toml("incident_categories.toml")
    defaults = raw["defaults"]["limits_hours"]
    categories = {}
    for c in raw["category"]:
        limits = {**defaults, **c.get("limits_hours", {})}
        unknown = set(limits) - set(STAGES)
        if unknown:
            raise ValueError(f"incident_categories.toml: {c['code']} has unknown stages {sorted(unknown)}")
        categories[c["code"]] = IncidentCategory(
            c["code"], c["name_zh"], c["name_en"], c["department"], {s: float(limits[s]) for s in STAGES}
        )
    return categories
