"""Household estimates for buildings whose source lacks them (e.g. OpenStreetMap)."""

from __future__ import annotations

import numpy as np


def estimate_households(
    footprint_m2: np.ndarray, floors: np.ndarray, *, dwelling_size_m2: float, default_floors: int = 1
) -> np.ndarray:
    """Gross floor area ÷ dwelling size, at least one household per residential building.

    `floors` may hold NaN where unknown; those count as `default_floors`.
    """
    levels = np.where(np.isfinite(floors) & (floors >= 1), floors, default_floors)
    estimate = np.floor(np.asarray(footprint_m2, dtype=float) * levels / dwelling_size_m2)
    return np.maximum(estimate, 1).astype(np.int64)
