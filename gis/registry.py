"""Registries kept as TOML in data/: facility categories with their life-circle tiers, grid-code layouts."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


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
