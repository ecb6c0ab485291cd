"""The same lesion in two readers' readings of one patient.

Readers name lesions independently (the plugin numbers them ``T1``, ``T2``… in the
order drawn), so ids alone do not identify a lesion across readers. When both
readings have their JSON sidecar, lesions are matched by **where they are**: the
baseline position of each lesion (centre of its long axis, else of its short axis,
else its marker, in patient millimetres) and a minimum-total-distance assignment
(Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``), a pair being
accepted only within ``tolerance_mm``. Without geometry (CSV only, e.g. the
synthetic cohort, whose readers use the truth's ids) lesions are matched by
``lesion_id``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: Default largest distance between two readers' marks of the same lesion (mm).
TOLERANCE_MM = 15.0


@dataclass
class LesionMatch:
    """Pairs of lesion ids (reader A's id -> reader B's id) and how they were found."""

    pairs: dict[str, str] = field(default_factory=dict)
    method: str = "lesion_id"  # or "geometry"
    distances_mm: dict[str, float] = field(default_factory=dict)


def _baseline_positions(csv_path: Path) -> dict[str, tuple[float, float, float]] | None:
    """Baseline position of each lesion from the reading's sidecar (None: no geometry)."""
    from recist_tool.reading import ReadingError, load_sidecar, sidecar_path

    side = sidecar_path(csv_path)
    if not side.is_file():
        return None
    try:
        reading = load_sidecar(side)
    except ReadingError:
        return None
    base = reading.baseline
    if base is None:
        return None
    out = {}
    for lesion in reading.lesions:
        f = lesion.findings.get(base.label)
        pos = f.position_lps if f is not None else None
        if pos is not None:
            out[lesion.lesion_id] = tuple(float(v) for v in pos)
    return out or None


def match_lesions(
    a_rows: pd.DataFrame,
    b_rows: pd.DataFrame,
    a_path: str | os.PathLike | None = None,
    b_path: str | os.PathLike | None = None,
    tolerance_mm: float = TOLERANCE_MM,
) -> LesionMatch:
    """Match the lesions of two readings of one patient.

    Parameters
    ----------
    a_rows, b_rows : pandas.DataFrame
        The two readings' annotation rows (``lesion_id`` column).
    a_path, b_path : path-like, optional
        Their CSV files: when both have a sidecar with baseline marks, lesions are
        matched by position; otherwise by id.
    tolerance_mm : float
        Largest accepted distance between matched baseline positions.

    Returns
    -------
    LesionMatch
    """
    a_ids = list(dict.fromkeys(map(str, a_rows["lesion_id"])))
    b_ids = list(dict.fromkeys(map(str, b_rows["lesion_id"])))
    pa = _baseline_positions(Path(a_path)) if a_path is not None else None
    pb = _baseline_positions(Path(b_path)) if b_path is not None else None
    if pa and pb:
        from scipy.optimize import linear_sum_assignment

        ka, kb = list(pa), list(pb)
        cost = np.array([[math.dist(pa[x], pb[y]) for y in kb] for x in ka])
        big = cost.max() * 10 + 1e6
        masked = np.where(cost <= tolerance_mm, cost, big)
        rows, cols = linear_sum_assignment(masked)
        match = LesionMatch(method="geometry")
        for i, j in zip(rows, cols, strict=True):
            if cost[i, j] <= tolerance_mm:
                match.pairs[ka[i]] = kb[j]
                match.distances_mm[ka[i]] = float(cost[i, j])
        return match
    common = [x for x in a_ids if x in set(b_ids)]
    return LesionMatch(pairs={x: x for x in common}, method="lesion_id")
