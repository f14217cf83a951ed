"""Order statistics used by the DORA metrics: the usual median and a linear-interpolation percentile."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any


def percentile(values: Sequence[float] | Any, q: float, *, presorted: bool = False) -> float | None:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks.

    This is Hyndman & Fan type 7 (NumPy's default, Excel's PERCENTILE.INC): with the values sorted as
    x[0] <= ... <= x[n-1], h = (n - 1) * q / 100 and the result is x[floor(h)] + (h - floor(h)) *
    (x[floor(h) + 1] - x[floor(h)]). At q = 50 it is the usual median. None for no values.
    """
    if len(values) == 0:
        return None
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    xs = values if presorted else sorted(values)
    h = Fraction(len(xs) - 1) * Fraction(q) / 100  # exact, so that p90 of whole seconds is not 107279.999...
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    frac = h - lo
    if not frac:
        return float(xs[lo])
    a, b = float(xs[lo]), float(xs[hi])
    return float(Fraction(a) + frac * (Fraction(b) - Fraction(a)))


def median(values: Sequence[float] | Any, *, presorted: bool = False) -> float | None:
    """The usual median: the middle value, or the mean of the middle two for an even count."""
    if len(values) == 0:
        return None
    xs = values if presorted else sorted(values)
    n = len(xs)
    mid = n // 2
    if n % 2:
        return float(xs[mid])
    return (float(xs[mid - 1]) + float(xs[mid])) / 2.0


__all__ = ["median", "percentile"]
