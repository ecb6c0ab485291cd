"""Target, non-target, new-lesion and overall response at every time point.

All arrays are indexed by time point (sorted by patient, then date). Every rule is
a vectorised expression over the whole cohort; state carried across time points
(nadir, an earlier PR) comes from per-patient cumulative operations. The one rule
whose state depends on earlier *overall* responses — a lesion reappearing after an
overall CR — is evaluated by a loop over time point ranks, each step vectorised over
the patients concerned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recist_tool.response._prepare import (
    ABSENT,
    DISAPPEARED,
    EQUIVOCAL_PROGRESSION,
    MEASURED,
    NEW,
    NEW_EQUIVOCAL,
    NEW_NON_TARGET,
    NEW_PRESENT,
    NEW_TARGET,
    NON_TARGET,
    NOT_EVALUATED,
    PRESENT,
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
_BIG = np.iinfo(np.int64).max


@dataclass
class TimepointResult:
    """Per time point arrays (see module docstring)."""

    n_targets: np.ndarray
    full: np.ndarray  # every target evaluated
    sod: np.ndarray  # int64 units: sum of evaluated targets
    baseline_sod: np.ndarray  # of the patient, per time point
    nadir: np.ndarray  # int64 units, -1 where none (baseline)
    target: np.ndarray  # response codes (FAQ "once PR, PR until PD" unless strict_pr)
    target_strict: np.ndarray  # per time point, without that convention
    non_target: np.ndarray
    new_unequivocal: np.ndarray  # count
    new_equivocal: np.ndarray
    overall: np.ndarray
    overall_strict: np.ndarray  # with target_strict
    pd_size: np.ndarray  # bool: target sum rule met
    reappeared_target: np.ndarray  # bool: a target reappeared after overall CR
    reappeared_nt: np.ndarray  # bool: a non-target reappeared after overall CR
    held: np.ndarray  # bool: target PR only by the "once PR" convention
    markers: np.ndarray  # bool: abnormal tumour markers recorded
    backdated_rank: np.ndarray  # per patient: rank of a confirmed equivocal finding
    backdated_what: np.ndarray  # per patient: 1 new lesion, 2 non-target (0 none)
    # first lesion (index, -1 none) per time point behind a reason
    first_new: np.ndarray
    first_nt_prog: np.ndarray
    first_nt_present: np.ndarray
    first_nt_ne: np.ndarray
    first_target_ne: np.ndarray
    first_target_present: np.ndarray
    first_late_nt: np.ndarray  # a non-target first recorded at follow-up (as new)
    # iRECIST: new-lesion targets and non-targets
    nlt_sum: np.ndarray  # int64 units, sum of evaluated new-lesion targets
    nlt_full: np.ndarray
    nlt_any: np.ndarray  # bool: the patient has new-lesion targets by then
    nlnt_prog: np.ndarray  # count of new-lesion non-targets in progression
    new_ids_upto: np.ndarray  # distinct new lesions seen (unequivocally) so far
    nt_prog_count: np.ndarray
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


def _first_lesion(tp: np.ndarray, les: np.ndarray, mask: np.ndarray, n_tp: int) -> np.ndarray:
    """Per time point, the smallest lesion index among rows where ``mask`` holds (-1 none)."""
    out = np.full(n_tp, _BIG, dtype=np.int64)
    if mask.any():
        np.minimum.at(out, tp[mask], les[mask])
    return np.where(out == _BIG, -1, out)


def combine(
    follow: np.ndarray,
    n_targets: np.ndarray,
    target: np.ndarray,
    non_target: np.ndarray,
    new_unequivocal: np.ndarray,
) -> np.ndarray:
    """Overall response (RECIST 1.1 Tables 1 and 2)."""
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


def evaluate_timepoints(prep: Prepared, settings: ResponseSettings) -> TimepointResult:
    """Compute every per-time-point response of the cohort."""
    n_tp = prep.n_tp
    rank = prep.tp_rank
    follow = rank > 0
    row_rank = rank[prep.row_tp]
    nodal, la, sa, status = prep.row_nodal, prep.row_la, prep.row_sa, prep.row_status
    kind = prep.row_kind
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

    rows = np.flatnonzero(kind == TARGET)
    st, rn, rla, rsa = status[rows], nodal[rows], la[rows], sa[rows]
    contrib = _counted(st, rn, rla, rsa)
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
    cell_les = tgt[cell_t]
    first_target_ne = _first_lesion(cell_tp, cell_les, cell_ne, n_tp)
    first_target_present = _first_lesion(cell_tp, cell_les, cell_present, n_tp)

    full_sod = np.where(full, sod, _BIG)
    cummin = pd.Series(full_sod).groupby(prep.tp_patient).cummin().to_numpy()
    nadir = _group_shift(cummin, rank, -1)
    nadir = np.where(nadir == _BIG, -1, nadir)
    has_nadir = nadir >= 0

    is_cr = follow & (n_targets > 0) & full & (n_present == 0)
    # PD on the evaluated sum (a partial sum that already meets PD is PD).
    pd_size = has_nadir & (sod * 10 >= nadir * 12) & (sod - nadir >= FIVE_MM)
    target0 = np.select(
        [
            ~follow | (n_targets == 0),
            is_cr,
            pd_size,
            ~full,
            sod * 10 <= baseline_sod * 7,
        ],
        [NONE, CR, PD, NE, PR],
        default=SD,
    ).astype(np.int8)

    # ---- lesions first recorded at follow-up: new lesions of every kind, and
    # non-targets first recorded there (new lesions unless the baseline is incomplete)
    p_of_row = prep.les_patient[prep.row_les]
    late_nt = (
        (kind == NON_TARGET)
        & (prep.les_first_rank[prep.row_les] > 0)
        & ~prep.baseline_incomplete[p_of_row]
    )

    # ---- non-targets
    rows = np.flatnonzero((kind == NON_TARGET) & ~late_nt)
    nt_tp = prep.row_tp[rows]
    nt_les = prep.row_les[rows]
    nt_status = np.where(small_node[rows], ABSENT, status[rows])
    prog = nt_status == PROGRESSION
    nt_ne_row = nt_status == NOT_EVALUATED
    present_row = np.isin(nt_status, (PRESENT, PROGRESSION, EQUIVOCAL_PROGRESSION))
    n_rows = _bincount(nt_tp, n_tp)
    n_prog = _bincount(nt_tp, n_tp, prog.astype(np.float64))
    n_nt_ne = _bincount(nt_tp, n_tp, nt_ne_row.astype(np.float64))
    n_absent = _bincount(nt_tp, n_tp, (nt_status == ABSENT).astype(np.float64))
    nt_present = _bincount(nt_tp, n_tp, present_row.astype(np.float64)) > 0
    nt_lesions = np.flatnonzero(prep.les_kind == NON_TARGET)
    keep = (prep.les_first_rank[nt_lesions] == 0) | prep.baseline_incomplete[
        prep.les_patient[nt_lesions]
    ]
    nt_lesions = nt_lesions[keep]
    appear = prep.tp_start[prep.les_patient[nt_lesions]] + prep.les_first_rank[nt_lesions]
    existing = _group_cumsum(_bincount(appear, n_tp), prep)
    missing = existing - n_rows
    nt0 = np.select(
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
    nt0 = np.where(follow & markers & np.isin(nt0, (NONE, CR)), NN, nt0).astype(np.int8)
    first_nt_prog = _first_lesion(nt_tp, nt_les, prog, n_tp)
    first_nt_present = _first_lesion(nt_tp, nt_les, present_row, n_tp)
    first_nt_ne = _first_lesion(nt_tp, nt_les, nt_ne_row, n_tp)
    nt_backdate = _equivocal_nt_rank(prep, rows, nt_status)

    # ---- new lesions (a new node counts only at >= 10 mm short axis)
    new_rows = np.flatnonzero(((kind >= NEW) | late_nt) & ~small_node)
    k, s_ = kind[new_rows], status[new_rows]
    nt_like = (k == NEW_NON_TARGET) | late_nt[new_rows]
    contrib_new = _counted(s_, nodal[new_rows], la[new_rows], sa[new_rows])
    unequivocal = (
        ((k == NEW) & (s_ == NEW_PRESENT))
        | (nt_like & np.isin(s_, (NEW_PRESENT, PRESENT, PROGRESSION)))
        | ((k == NEW_TARGET) & np.isin(s_, (MEASURED, TOO_SMALL)) & (contrib_new > 0))
    )
    equivocal = ((k == NEW) & (s_ == NEW_EQUIVOCAL)) | (
        nt_like & np.isin(s_, (NEW_EQUIVOCAL, EQUIVOCAL_PROGRESSION))
    )
    new_tp = prep.row_tp[new_rows]
    new_les = prep.row_les[new_rows]
    new_unequivocal = _bincount(new_tp, n_tp, unequivocal.astype(np.float64))
    new_equivocal = _bincount(new_tp, n_tp, equivocal.astype(np.float64))
    first_new = _first_lesion(new_tp, new_les, unequivocal, n_tp)
    first_late_nt = _first_lesion(new_tp, new_les, unequivocal & late_nt[new_rows], n_tp)
    new_backdate = _equivocal_new_rank(prep, new_les, row_rank[new_rows], unequivocal, equivocal)
    backdated_rank = np.minimum(new_backdate, nt_backdate)
    backdated_what = np.where(
        backdated_rank == _BIG, 0, np.where(new_backdate <= nt_backdate, 1, 2)
    ).astype(np.int8)

    # iRECIST quantities: the new-lesion target sum, new-lesion non-target progression,
    # and how many distinct new lesions have been seen so far.
    is_nlt = k == NEW_TARGET
    nlt_ne = is_nlt & (s_ == NOT_EVALUATED)
    nlt_sum = _bincount(new_tp, n_tp, np.where(is_nlt & ~nlt_ne, contrib_new, 0).astype(float))
    nlt_full = _bincount(new_tp, n_tp, nlt_ne.astype(np.float64)) == 0
    nlt_any = _group_cumsum(_bincount(new_tp, n_tp, is_nlt.astype(np.float64)), prep) > 0
    nlnt_prog = _bincount(new_tp, n_tp, (nt_like & (s_ == PROGRESSION)).astype(np.float64))
    first_seen = np.full(len(prep.les_kind), _BIG, dtype=np.int64)
    if unequivocal.any():
        np.minimum.at(first_seen, new_les[unequivocal], new_tp[unequivocal])
    seen = first_seen[first_seen < _BIG]
    new_ids_upto = _group_cumsum(_bincount(seen, n_tp), prep)

    # ---- overall, with a reappearance after overall CR (FAQ "Does a new lesion always
    # result in PD?"): PD when the last time point whose overall response is not NE
    # was overall CR.
    target1, nt1 = target0.copy(), nt0.copy()
    overall0 = combine(follow, n_targets, target0, nt0, new_unequivocal)
    re_t = np.zeros(n_tp, dtype=bool)
    re_nt = np.zeros(n_tp, dtype=bool)
    candidates = np.unique(prep.tp_patient[overall0 == CR])
    if len(candidates):
        last = np.zeros(prep.n_patients, dtype=np.int8)  # last non-NE overall (NONE)
        for r in range(1, int(prep.tp_count[candidates].max(initial=1))):
            p = candidates[prep.tp_count[candidates] > r]
            t = prep.tp_start[p] + r
            after_cr = last[p] == CR
            rt = after_cr & (n_present[t] > 0)
            rn = after_cr & nt_present[t]
            re_t[t], re_nt[t] = rt, rn
            target1[t] = np.where(rt, PD, target1[t])
            nt1[t] = np.where(rn, PD, nt1[t])
            o = combine(follow[t], n_targets[t], target1[t], nt1[t], new_unequivocal[t])
            last[p] = np.where(o != NE, o, last[p])

    target_strict = target1
    if settings.strict_pr:
        target = target_strict
        held = np.zeros(n_tp, dtype=bool)
    else:
        # once PR, PR until PD (working-group FAQ); under confirmation the engine
        # moves the start of the hold to the confirmation (see apply_hold)
        held = (target_strict == SD) & _prior_any(target_strict == PR, prep)
        target = np.where(held, PR, target_strict).astype(np.int8)
    overall_strict = combine(follow, n_targets, target_strict, nt1, new_unequivocal)
    overall = (
        overall_strict
        if not held.any()
        else combine(follow, n_targets, target, nt1, new_unequivocal)
    )
    return TimepointResult(
        n_targets=n_targets,
        full=full,
        sod=sod,
        baseline_sod=baseline_sod,
        nadir=nadir,
        target=target,
        target_strict=target_strict,
        non_target=nt1,
        new_unequivocal=new_unequivocal,
        new_equivocal=new_equivocal,
        overall=overall,
        overall_strict=overall_strict,
        pd_size=pd_size,
        reappeared_target=re_t,
        reappeared_nt=re_nt,
        held=held,
        markers=markers,
        backdated_rank=backdated_rank,
        backdated_what=backdated_what,
        first_new=first_new,
        first_nt_prog=first_nt_prog,
        first_nt_present=first_nt_present,
        first_nt_ne=first_nt_ne,
        first_target_ne=first_target_ne,
        first_target_present=first_target_present,
        first_late_nt=first_late_nt,
        nlt_sum=nlt_sum,
        nlt_full=nlt_full,
        nlt_any=nlt_any,
        nlnt_prog=nlnt_prog,
        new_ids_upto=new_ids_upto,
        nt_prog_count=n_prog,
        cell_lesion=cell_les,
        cell_tp=cell_tp,
        cell_value=cell_value,
        cell_ne=cell_ne,
    )


def apply_hold(prep: Prepared, tps: TimepointResult, start_rank: np.ndarray) -> None:
    """Hold PR ("once PR, PR until PD") only after ``start_rank`` per patient.

    Used under confirmation: the hold starts after the time point that confirmed a
    response (``_BIG``: never).
    """
    after = prep.tp_rank > start_rank[prep.tp_patient]
    held = (tps.target_strict == SD) & after
    tps.held = held
    tps.target = np.where(held, PR, tps.target_strict).astype(np.int8)
    follow = prep.tp_rank > 0
    tps.overall = combine(follow, tps.n_targets, tps.target, tps.non_target, tps.new_unequivocal)


def _counted(st: np.ndarray, nodal: np.ndarray, la: np.ndarray, sa: np.ndarray) -> np.ndarray:
    """What a measured lesion row counts in a sum (int64 units)."""
    return np.where(
        st == MEASURED,
        np.where(nodal, sa, la),
        np.where(
            st == TOO_SMALL,
            FIVE_MM,
            np.where((st == DISAPPEARED) & nodal & (sa >= 0), sa, 0),  # a node keeps its SA
        ),
    ).clip(min=0)


def _equivocal_new_rank(
    prep: Prepared,
    les: np.ndarray,
    r_rank: np.ndarray,
    unequivocal: np.ndarray,
    equivocal: np.ndarray,
) -> np.ndarray:
    """Per patient, the earliest rank of an equivocal new lesion later confirmed.

    PD is dated back to the time point where such a lesion was first seen.
    """
    out = np.full(prep.n_patients, _BIG, dtype=np.int64)
    if not equivocal.any():
        return out
    n_les = len(prep.les_kind)
    first_eq = np.full(n_les, _BIG, dtype=np.int64)
    first_un = np.full(n_les, _BIG, dtype=np.int64)
    np.minimum.at(first_eq, les[equivocal], r_rank[equivocal])
    np.minimum.at(first_un, les[unequivocal], r_rank[unequivocal])
    confirmed = (first_eq < first_un) & (first_un < _BIG)
    np.minimum.at(out, prep.les_patient[confirmed], first_eq[confirmed])
    return out


def _equivocal_nt_rank(prep: Prepared, rows: np.ndarray, nt_status: np.ndarray) -> np.ndarray:
    """Per patient, the rank progression of a non-target is dated back to.

    A non-target recorded ``equivocal_progression`` and, later, ``progression``
    (with only equivocal or not-evaluated time points between) progressed at the
    first equivocal time point of that run (RECIST 1.1 §4.4.4).
    """
    out = np.full(prep.n_patients, _BIG, dtype=np.int64)
    eq = nt_status == EQUIVOCAL_PROGRESSION
    if not eq.any():
        return out
    les_with = np.unique(prep.row_les[rows[eq]])
    mask = np.isin(prep.row_les[rows], les_with)
    sub = rows[mask]
    st = nt_status[mask]
    rk = prep.tp_rank[prep.row_tp[sub]]
    order = np.lexsort((rk, prep.row_les[sub]))
    les_prev, start = -1, -1
    for i in order.tolist():
        lesion, s, r = int(prep.row_les[sub[i]]), int(st[i]), int(rk[i])
        if lesion != les_prev:
            les_prev, start = lesion, -1
        if s == EQUIVOCAL_PROGRESSION:
            start = r if start < 0 else start
        elif s == PROGRESSION and start >= 0:
            p = int(prep.les_patient[lesion])
            out[p] = min(out[p], start)
            start = -1
        elif s != NOT_EVALUATED:
            start = -1
    return out
