"""Target, non-target, new-lesion and overall response at every time point.

All arrays are indexed by time point (sorted by patient, then date). Every rule is
a vectorised expression over the whole cohort; state carried across time points
(nadir, an earlier CR or PR) comes from per-patient cumulative operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recist_tool.response._prepare import (
    ABSENT,
    DISAPPEARED,
    MEASURED,
    NEW,
    NEW_EQUIVOCAL,
    NEW_PRESENT,
    NON_TARGET,
    NOT_EVALUATED,
    PROGRESSION,
    TARGET,
    TOO_SMALL,
    Prepared,
    U,
)
from recist_tool.response.settings import ResponseSettings

# Response codes; RESPONSE_NAMES[code] is the text written to files.
NONE, CR, PR, SD, PD, NE, NN = 0, 1, 2, 3, 4, 5, 6
RESPONSE_NAMES = np.array(["", "CR", "PR", "SD", "PD", "NE", "NON-CR/NON-PD"], dtype=object)
FIVE_MM = 5 * U
TEN_MM = 10 * U


@dataclass
class TimepointResult:
    """Per time point arrays (see module docstring)."""

    n_targets: np.ndarray
    full: np.ndarray  # every target evaluated
    sod: np.ndarray  # int64 units: sum of evaluated targets
    baseline_sod: np.ndarray  # of the patient, per time point
    nadir: np.ndarray  # int64 units, -1 where none (baseline)
    target: np.ndarray  # response codes
    non_target: np.ndarray
    new_unequivocal: np.ndarray  # count
    new_equivocal: np.ndarray
    overall: np.ndarray
    overall_strict_pr: np.ndarray  # without the "once PR, PR until PD" convention
    backdated_rank: np.ndarray  # per patient: rank of a confirmed equivocal new lesion
    # one cell per (baseline target, time point of its patient)
    cell_lesion: np.ndarray  # lesion index
    cell_tp: np.ndarray  # time point index
    cell_value: np.ndarray  # int64 units counted in the sum (after rounding)
    cell_ne: np.ndarray  # not evaluated (no row, or not_evaluated)


def _group_shift(values: np.ndarray, tp_rank: np.ndarray, fill) -> np.ndarray:
    """values[t - 1] within the patient; ``fill`` at baseline."""
    out = np.empty_like(values)
    out[1:] = values[:-1]
    out[tp_rank == 0] = fill
    return out


def _group_cumsum(values: np.ndarray, prep: Prepared) -> np.ndarray:
    """Cumulative sum within each patient (time points are contiguous per patient)."""
    cum = np.cumsum(values, dtype=np.int64)
    if len(cum) == 0:
        return cum
    before = cum[prep.tp_start] - values[prep.tp_start]  # total of earlier patients
    return cum - before[prep.tp_patient]


def _prior_any(flag: np.ndarray, prep: Prepared) -> np.ndarray:
    """Whether ``flag`` held at an earlier time point of the same patient."""
    return (_group_cumsum(flag.astype(np.int64), prep) - flag) > 0


def _bincount(index: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    # float64 sums of integers are exact below 2**53 units (9e9 mm): far above any SOD.
    out = np.bincount(index, weights=weights, minlength=n)
    return np.rint(out).astype(np.int64) if weights is not None else out.astype(np.int64)


def evaluate_timepoints(prep: Prepared, settings: ResponseSettings) -> TimepointResult:
    """Compute every per-time-point response of the cohort."""
    n_tp = prep.n_tp
    rank = prep.tp_rank
    follow = rank > 0
    row_rank = rank[prep.row_tp]
    nodal, la, sa, status = prep.row_nodal, prep.row_la, prep.row_sa, prep.row_status
    small_node = nodal & (sa >= 0) & (sa < TEN_MM)  # a node < 10 mm is normal

    # ---- targets: one cell per (baseline target, time point of its patient)
    tgt = np.flatnonzero(prep.les_kind == TARGET)
    t_of_les = np.full(len(prep.les_kind), -1, dtype=np.int64)
    t_of_les[tgt] = np.arange(len(tgt))
    per_t = prep.tp_count[prep.les_patient[tgt]]
    cell_start = np.zeros(len(tgt), dtype=np.int64)
    cell_start[1:] = np.cumsum(per_t)[:-1]
    n_cell = int(per_t.sum())
    cell_t = np.repeat(np.arange(len(tgt)), per_t)
    cell_tp = prep.tp_start[prep.les_patient[tgt]][cell_t] + (
        np.arange(n_cell) - cell_start[cell_t]
    )
    cell_nodal = prep.les_nodal[tgt][cell_t]

    rows = np.flatnonzero(prep.row_kind == TARGET)
    st, rn, rla, rsa = status[rows], nodal[rows], la[rows], sa[rows]
    contrib = np.where(
        st == MEASURED,
        np.where(rn, rsa, rla),
        np.where(
            st == TOO_SMALL,
            FIVE_MM,
            np.where((st == DISAPPEARED) & rn & (rsa >= 0), rsa, 0),  # a node keeps its SA
        ),
    )
    cell_of_row = cell_start[t_of_les[prep.row_les[rows]]] + row_rank[rows]
    cell_value = _bincount(cell_of_row, n_cell, contrib.astype(np.float64))  # fragments add up
    if settings.rounding != "none":
        q = U // 10 if settings.rounding == "0.1" else U
        cell_value = (cell_value + q // 2) // q * q
    cell_ne = (_bincount(cell_of_row, n_cell) == 0) | (
        _bincount(cell_of_row, n_cell, (st == NOT_EVALUATED).astype(np.float64)) > 0
    )
    # A lesion "present": non-nodal with a size, or a node at >= 10 mm short axis.
    cell_present = ~cell_ne & np.where(cell_nodal, cell_value >= TEN_MM, cell_value > 0)

    n_targets = _bincount(cell_tp, n_tp)
    n_ne = _bincount(cell_tp, n_tp, cell_ne.astype(np.float64))
    sod = _bincount(cell_tp, n_tp, np.where(cell_ne, 0, cell_value).astype(np.float64))
    n_present = _bincount(cell_tp, n_tp, cell_present.astype(np.float64))
    full = n_ne == 0
    baseline_sod = sod[prep.tp_start][prep.tp_patient]

    big = np.iinfo(np.int64).max
    full_sod = np.where(full, sod, big)
    cummin = pd.Series(full_sod).groupby(prep.tp_patient).cummin().to_numpy()
    nadir = _group_shift(cummin, rank, -1)
    nadir = np.where(nadir == big, -1, nadir)
    has_nadir = nadir >= 0

    is_cr = follow & (n_targets > 0) & full & (n_present == 0)
    reappeared = _prior_any(is_cr, prep) & (n_present > 0)
    # PD on the evaluated sum (a partial sum that already meets PD is PD).
    pd_size = has_nadir & (sod * 10 >= nadir * 12) & (sod - nadir >= FIVE_MM)
    target = np.select(
        [
            ~follow | (n_targets == 0),
            is_cr,
            reappeared | pd_size,
            ~full,
            sod * 10 <= baseline_sod * 7,
        ],
        [NONE, CR, PD, NE, PR],
        default=SD,
    ).astype(np.int8)
    target_strict = target
    if not settings.strict_pr:  # once PR, PR until PD (working-group FAQ)
        target = np.where((target == SD) & _prior_any(target == PR, prep), PR, target)

    # ---- non-targets
    rows = np.flatnonzero(prep.row_kind == NON_TARGET)
    nt_tp = prep.row_tp[rows]
    nt_status = np.where(small_node[rows], ABSENT, status[rows])
    n_rows = _bincount(nt_tp, n_tp)
    n_prog = _bincount(nt_tp, n_tp, (nt_status == PROGRESSION).astype(np.float64))
    n_nt_ne = _bincount(nt_tp, n_tp, (nt_status == NOT_EVALUATED).astype(np.float64))
    n_absent = _bincount(nt_tp, n_tp, (nt_status == ABSENT).astype(np.float64))
    nt_les = np.flatnonzero(prep.les_kind == NON_TARGET)
    appear = prep.tp_start[prep.les_patient[nt_les]] + prep.les_first_rank[nt_les]
    existing = _group_cumsum(_bincount(appear, n_tp), prep)
    missing = existing - n_rows
    non_target = np.select(
        [
            ~follow | (existing == 0),
            n_prog > 0,
            (n_nt_ne + missing) > 0,
            n_absent == existing,
        ],
        [NONE, PD, NE, CR],
        default=NN,
    ).astype(np.int8)

    # Abnormal tumour markers (when recorded) rule out a non-target CR (RECIST 1.1 §4.3.2).
    markers = _bincount(prep.row_tp, n_tp, prep.row_markers_abnormal.astype(np.float64)) > 0
    non_target = np.where(
        follow & markers & np.isin(non_target, (NONE, CR)), NN, non_target
    ).astype(np.int8)

    # ---- new lesions (a new node counts only at >= 10 mm short axis)
    rows = np.flatnonzero((prep.row_kind == NEW) & ~small_node)
    new_tp = prep.row_tp[rows]
    new_unequivocal = _bincount(new_tp, n_tp, (status[rows] == NEW_PRESENT).astype(np.float64))
    new_equivocal = _bincount(new_tp, n_tp, (status[rows] == NEW_EQUIVOCAL).astype(np.float64))
    backdated_rank = _confirmed_equivocal_rank(prep, rows)

    def combine(target: np.ndarray) -> np.ndarray:
        """Overall response (Tables 1 and 2)."""
        has_targets = n_targets > 0
        return np.select(
            [
                ~follow,
                (new_unequivocal > 0) | (target == PD) | (non_target == PD),
                has_targets & (target == CR) & np.isin(non_target, (NONE, CR)),
                has_targets & (target == CR),
                has_targets,
                non_target == CR,
                non_target == NN,
            ],
            [NONE, PD, CR, PR, target, CR, NN],
            default=NE,
        ).astype(np.int8)

    overall = combine(target)
    return TimepointResult(
        n_targets=n_targets,
        full=full,
        sod=sod,
        baseline_sod=baseline_sod,
        nadir=nadir,
        target=target,
        non_target=non_target,
        new_unequivocal=new_unequivocal,
        new_equivocal=new_equivocal,
        overall=overall,
        overall_strict_pr=overall if target_strict is target else combine(target_strict),
        backdated_rank=backdated_rank,
        cell_lesion=tgt[cell_t],
        cell_tp=cell_tp,
        cell_value=cell_value,
        cell_ne=cell_ne,
    )


def _confirmed_equivocal_rank(prep: Prepared, new_rows: np.ndarray) -> np.ndarray:
    """Per patient, the earliest rank of an equivocal new lesion later confirmed.

    PD is dated back to the time point where such a lesion was first seen.
    """
    big = np.iinfo(np.int64).max
    out = np.full(prep.n_patients, big, dtype=np.int64)
    if len(new_rows) == 0:
        return out
    n_les = len(prep.les_kind)
    r_rank = prep.tp_rank[prep.row_tp[new_rows]]
    r_les = prep.row_les[new_rows]
    st = prep.row_status[new_rows]
    first_eq = np.full(n_les, big, dtype=np.int64)
    first_un = np.full(n_les, big, dtype=np.int64)
    np.minimum.at(first_eq, r_les[st == NEW_EQUIVOCAL], r_rank[st == NEW_EQUIVOCAL])
    np.minimum.at(first_un, r_les[st == NEW_PRESENT], r_rank[st == NEW_PRESENT])
    confirmed = (first_eq < first_un) & (first_un < big)
    np.minimum.at(out, prep.les_patient[confirmed], first_eq[confirmed])
    return out
