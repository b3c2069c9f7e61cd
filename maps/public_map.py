"""Placeholder until the page is written (issue 6)."""

from __future__ import annotations

from maps.assets import Basemap


def public_page(center: tuple[float, float], *, base: Basemap, lang: str = "zh", **_: object) -> str:
    raise NotImplementedError
