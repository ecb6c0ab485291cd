"""Choi criteria (Choi et al., J Clin Oncol 2007;25:1753-1759): size and density on CT.

Per time point, with the RECIST 1.1 sum of diameters (SOD) and the density D = the
mean of the targets' ``mean_hu`` (targets measured at that time point; every one of
them must have a value, else the density criterion is not available):

- CR: every target disappeared (RECIST target CR), non-targets absent, no new lesion.
- PD: a new lesion, non-target progression, or SOD >= 1.10 x nadir without the
  density criterion of PR (a partial sum that already meets it is PD).
- NE: a target not evaluated (and not PD).
- PR: SOD <= 0.90 x baseline SOD, or D <= 0.85 x baseline D.
- SD otherwise.

Comparisons are exact (integers of 1e-6 mm and 1e-6 HU). The best response is the
best time point response before the first Choi PD (SD counting from
``sd_min_days``; no confirmation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recist_tool.response._best import Sequence
from recist_tool.response._irecist import CriterionResult, _date_at
from recist_tool.response._prepare import MEASURED, TARGET, Prepared, U
from recist_tool.response._timepoint import (
    CR,
    NE,
    NONE,
    PD,
    PR,
    RESPONSE_NAMES,
    SD,
    TimepointResult,
)
from recist_tool.response.display import rounded_pct
from recist_tool.response.settings import ResponseSettings

_BIG = np.iinfo(np.int64).max


def evaluate_choi(
    prep: Prepared, tps: TimepointResult, seq: Sequence, settings: ResponseSettings
) -> CriterionResult:
    """Choi response per time point and per patient (columns ``choi_*``, ``mean_hu``)."""
    n_tp, n_pat = prep.n_tp, prep.n_patients
    follow = prep.tp_rank > 0
    has_t = tps.n_targets > 0
    # ---- density: mean of the measured targets' mean_hu per time point
    rows = np.flatnonzero((prep.row_kind == TARGET) & (prep.row_status == MEASURED))
    tp = prep.row_tp[rows]
    if prep.row_hu is not None:
        hu_ok = prep.row_hu_ok[rows]
        hu = prep.row_hu[rows]
    else:
        hu_ok = np.zeros(len(rows), dtype=bool)
        hu = np.zeros(len(rows), dtype=np.int64)
    n_meas = np.bincount(tp, minlength=n_tp)
    n_hu = np.bincount(tp, weights=hu_ok.astype(float), minlength=n_tp).astype(np.int64)
    hu_sum = np.rint(np.bincount(tp, weights=np.where(hu_ok, hu, 0), minlength=n_tp))
    hu_sum = hu_sum.astype(np.int64)
    dens_ok = (n_meas > 0) & (n_hu == n_meas)
    base = prep.tp_start[prep.tp_patient]
    base_ok = dens_ok[base] & (hu_sum[base] > 0)
    # D_t / D_0 <= 0.85  <=>  100 sum_t n_0 <= 85 sum_0 n_t   (D_0 > 0)
    dens_pr = (
        follow
        & dens_ok
        & base_ok
        & (100 * hu_sum * n_hu[base] <= 85 * hu_sum[base] * np.maximum(n_hu, 1))
    )
    nadir = tps.nadir
    size_pd = (nadir >= 0) & (tps.sod * 10 >= nadir * 11)
    size_pr = tps.full & (tps.sod * 10 <= tps.baseline_sod * 9)
    target_cr = tps.target_strict == CR
    nt = tps.non_target
    choi = np.select(
        [
            ~follow | ~has_t,
            target_cr & np.isin(nt, (NONE, CR)) & (tps.new_unequivocal == 0),
            (tps.new_unequivocal > 0) | (nt == PD) | (size_pd & ~dens_pr),
            ~tps.full,
            size_pr | dens_pr | target_cr,
        ],
        [NONE, CR, PD, NE, PR],
        default=SD,
    ).astype(np.int8)

    # ---- best response before the first Choi PD
    rank, pat = prep.tp_rank, prep.tp_patient
    idx = np.arange(n_tp)
    first_pd = np.full(n_pat, _BIG, dtype=np.int64)
    is_pd = choi == PD
    np.minimum.at(first_pd, pat[is_pd], idx[is_pd])
    before = (rank >= 1) & (idx < first_pd[pat])
    sd_ok = seq.days >= settings.sd_min_days
    score = np.select([choi == CR, choi == PR, (choi == SD) & sd_ok], [3, 2, 1], default=0)
    score = np.where(before, score, 0)
    best_score = np.zeros(n_pat, dtype=np.int64)
    np.maximum.at(best_score, pat, score)
    is_best = (score == best_score[pat]) & (score > 0)
    best_tp = np.full(n_pat, _BIG, dtype=np.int64)
    np.minimum.at(best_tp, pat[is_best], idx[is_best])
    has_pd = first_pd < _BIG
    names = np.array([NE, SD, PR, CR], dtype=np.int8)
    best = np.where(best_score > 0, names[best_score], np.where(has_pd, PD, NE))
    best_tp = np.where(best_score > 0, best_tp, np.where(has_pd, first_pd, -1))
    dates = prep.tp_date.astype("datetime64[D]")
    p_has_t = tps.n_targets[prep.tp_start] > 0 if n_tp else np.zeros(0, bool)

    mean = np.where(dens_ok, hu_sum / np.maximum(n_hu, 1) / U, np.nan)
    dens_change = rounded_pct(
        np.where(follow & dens_ok & base_ok, hu_sum * n_hu[base], -1),
        np.where(follow & dens_ok & base_ok, hu_sum[base] * np.maximum(n_hu, 1), -1),
    )
    result = CriterionResult()
    result.timepoint_columns = {
        "mean_hu": np.round(mean, 1),
        "choi_density_change_pct": dens_change,
        "choi_response": pd.Categorical.from_codes(choi, RESPONSE_NAMES),
    }
    result.patient_columns = {
        "choi_best_response": np.where(p_has_t, RESPONSE_NAMES[best], "").astype(object),
        "choi_best_response_date": _date_at(np.where(p_has_t, best_tp, -1), dates),
        "choi_progression_date": _date_at(np.where(has_pd, first_pd, -1), dates),
    }
    result.run = {}
    return result
