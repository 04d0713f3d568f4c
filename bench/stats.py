"""Figures from several runs: the median with its min and max, and ratios of such figures."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any


def spread(values: Iterable[float | None], digits: int = 3) -> dict[str, Any]:
    """``{"median", "min", "max", "runs"}`` of the runs that gave a value (all None when none did)."""
    runs = [round(float(v), digits) for v in values if v is not None]
    if not runs:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {"median": round(statistics.median(runs), digits), "min": min(runs), "max": max(runs), "runs": runs}


def ratio(numerator: float | None, denominator: float | None, digits: int = 3) -> float | None:
    """``numerator / denominator``, or None when either is missing or the denominator is zero."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)


def median(figure: dict[str, Any]) -> float | None:
    """The median of a ``spread``."""
    return figure.get("median")
