"""iRECIST (Seymour et al., Lancet Oncol 2017;18:e143-e152) on the RECIST 1.1 results.

Before any progression iRECIST is RECIST 1.1 with an ``i`` prefix. The first RECIST
PD is iUPD (unconfirmed). It is confirmed (iCPD) at a later assessment by further
growth counted from the iUPD time point: the target sum +5 mm or more, the
new-lesion target sum +5 mm or more, progression of a non-target or new-lesion
non-target, another new lesion, or RECIST PD in a category that was not
progressing at the iUPD. Growth seen less than ``irecist_confirm_min_days`` after
the iUPD does not confirm it; another new lesion does (working-group
clarification). iUPD stays while the PD criteria hold; iSD, iPR or iCR (RECIST no
longer PD) resets the bar, after which a new PD is iUPD again. Conventions (each in
docs/recist.md): a non-target that drove the iUPD keeps it until it is absent (a
later ``progression`` of it is further growth); new lesions that persist without
growth keep the iUPD unless the targets reach PR that they had not at the iUPD
(the working group's scenarios B and F).

The state machine runs over time point ranks, vectorised over patients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recist_tool.response._best import Sequence
from recist_tool.response._prepare import Prepared, U
from recist_tool.response._timepoint import CR, NE, NN, NONE, PD, PR, SD, TimepointResult
from recist_tool.response.settings import ResponseSettings

INONE, ICR, IPR, ISD, IUPD, ICPD, INE, INN = range(8)
I_NAMES = np.array(
    ["", "iCR", "iPR", "iSD", "iUPD", "iCPD", "iNE", "NON-iCR/NON-iUPD"], dtype=object
)
# RECIST code -> iRECIST code
_MAP = np.zeros(7, dtype=np.int8)
_MAP[[NONE, CR, PR, SD, PD, NE, NN]] = [INONE, ICR, IPR, ISD, IUPD, INE, INN]
FIVE_MM = 5 * U
_BIG = np.iinfo(np.int64).max
# why a time point is what it is (for ireason)
(
    R_AS_RECIST,
    R_UPD,
    R_UPD_KEPT,
    R_RESET,
    R_IMPROVED,
    R_NE_KEPT,
    R_CPD_NEW,
    R_CPD_SUM,
    R_CPD_NLT,
    R_CPD_NT,
    R_CPD_NLNT,
    R_CPD_TARGET,
    R_CPD_AFTER,
) = range(13)
_REASON_PREFIX = {
    R_UPD: "iUPD: ",
    R_UPD_KEPT: "iUPD kept (not confirmed, PD criteria still met): ",
    R_RESET: "bar reset: ",
    R_IMPROVED: "bar reset: targets reached PR after the iUPD; ",
    R_NE_KEPT: "iUPD pending: ",
}
_CPD_TEXT = {
    R_CPD_NEW: "iCPD: another new lesion since the iUPD",
    R_CPD_SUM: "iCPD: target sum +5 mm or more since the iUPD",
    R_CPD_NLT: "iCPD: new-lesion target sum +5 mm or more since the iUPD",
    R_CPD_NT: "iCPD: non-target progression after the iUPD",
    R_CPD_NLNT: "iCPD: new-lesion non-target progression",
    R_CPD_TARGET: "iCPD: target PD in a category not progressing at the iUPD",
    R_CPD_AFTER: "iCPD (confirmed earlier)",
}


@dataclass
class CriterionResult:
    """Columns one criterion adds to the tables."""

    timepoint_columns: dict = field(default_factory=dict)
    patient_columns: dict = field(default_factory=dict)
    run: dict = field(default_factory=dict)


def evaluate_irecist(
    prep: Prepared,
    tps: TimepointResult,
    seq: Sequence,
    settings: ResponseSettings,
    recist_reason: pa.Array | None = None,
) -> CriterionResult:
    """iRECIST per time point and per patient (columns with an ``i`` prefix)."""
    n_tp, n_pat = prep.n_tp, prep.n_patients
    o = tps.overall
    days = seq.days
    resp = np.zeros(n_tp, dtype=np.int8)
    why = np.zeros(n_tp, dtype=np.int8)
    mode = np.zeros(n_pat, dtype=np.int8)  # 0 normal, 1 iUPD pending, 2 confirmed
    u = np.full(n_pat, -1, dtype=np.int64)
    trig_t = np.zeros(n_pat, dtype=bool)
    trig_nt = np.zeros(n_pat, dtype=bool)
    trig_new = np.zeros(n_pat, dtype=bool)
    u_resp_target = np.zeros(n_pat, dtype=bool)  # targets PR/CR at the iUPD
    confirmed_u = np.full(n_pat, -1, dtype=np.int64)
    max_rank = int(prep.tp_count.max(initial=1))
    for r in range(1, max_rank):
        p = np.flatnonzero(prep.tp_count > r)
        t = prep.tp_start[p] + r
        m = mode[p]
        ot = o[t]
        out = _MAP[ot].copy()
        w = np.full(len(p), R_AS_RECIST, dtype=np.int8)
        # -- confirmed: stays iCPD
        done = m == 2
        out[done], w[done] = ICPD, R_CPD_AFTER
        # -- pending iUPD
        pend = m == 1
        if pend.any():
            up = np.maximum(u[p], 0)
            dt = days[t] - days[up]
            late = dt >= settings.irecist_confirm_min_days
            another = tps.new_ids_upto[t] > tps.new_ids_upto[up]
            sum_up = trig_t[p] & (tps.sod[t] - tps.sod[up] >= FIVE_MM) & (tps.n_targets[t] > 0)
            nlt_up = (tps.nlt_sum[t] - tps.nlt_sum[up] >= FIVE_MM) & tps.nlt_any[t]
            nt_up = (tps.nt_prog_count[t] > 0) | tps.reappeared_nt[t]
            nlnt_up = tps.nlnt_prog[t] > 0
            tgt_new = ~trig_t[p] & (tps.target[t] == PD)
            grow_code = np.select(
                [sum_up, nlt_up, nt_up, nlnt_up, tgt_new],
                [R_CPD_SUM, R_CPD_NLT, R_CPD_NT, R_CPD_NLNT, R_CPD_TARGET],
                default=0,
            )
            conf = pend & (another | ((grow_code > 0) & late))
            code = np.where(another, R_CPD_NEW, grow_code)
            nt_holds = trig_nt[p] & ~np.isin(tps.non_target[t], (CR, NONE))
            no_pd = ~np.isin(ot, (PD, NE, NONE)) & ~nt_holds
            improved = (
                (ot == PD)
                & np.isin(tps.target[t], (PR, CR))
                & ~u_resp_target[p]
                & (tps.non_target[t] != PD)
                & ~nt_holds
            )
            reset = pend & ~conf & no_pd
            impr = pend & ~conf & ~reset & improved
            ne_kept = pend & ~conf & ~reset & ~impr & (ot == NE)
            kept = pend & ~conf & ~reset & ~impr & ~ne_kept
            out = np.where(conf, ICPD, out)
            w = np.where(conf, code, w)
            out = np.where(reset, _MAP[ot], out)
            w = np.where(reset, R_RESET, w)
            out = np.where(impr, IPR, out)
            w = np.where(impr, R_IMPROVED, w)
            out = np.where(ne_kept, INE, out)
            w = np.where(ne_kept, R_NE_KEPT, w)
            out = np.where(kept, IUPD, out)
            w = np.where(kept, R_UPD_KEPT, w)
            confirmed_u[p[conf]] = u[p[conf]]
            mode[p[conf]] = 2
            mode[p[reset | impr]] = 0
        # -- normal: RECIST PD is iUPD
        new_upd = (m == 0) & (ot == PD)
        if new_upd.any():
            q = p[new_upd]
            tq = t[new_upd]
            mode[q] = 1
            u[q] = tq
            trig_t[q] = tps.target[tq] == PD
            trig_nt[q] = tps.non_target[tq] == PD
            trig_new[q] = tps.new_unequivocal[tq] > 0
            u_resp_target[q] = np.isin(tps.target[tq], (PR, CR))
            w[new_upd] = R_UPD
        resp[t] = out
        why[t] = w

    # ---- per patient
    rank, pat = prep.tp_rank, prep.tp_patient
    idx = np.arange(n_tp)
    first_cpd = np.full(n_pat, _BIG, dtype=np.int64)
    is_cpd = resp == ICPD
    np.minimum.at(first_cpd, pat[is_cpd], idx[is_cpd])
    upto = (rank >= 1) & (idx <= first_cpd[pat])
    sd_ok = days >= settings.sd_min_days
    score = np.select(
        [resp == ICR, resp == IPR, (resp == ISD) & sd_ok, (resp == INN) & sd_ok],
        [4, 3, 2, 1],
        default=0,
    )
    score = np.where(upto, score, 0)
    best_score = np.zeros(n_pat, dtype=np.int64)
    np.maximum.at(best_score, pat, score)
    is_best = (score == best_score[pat]) & (score > 0)
    best_tp = np.full(n_pat, _BIG, dtype=np.int64)
    np.minimum.at(best_tp, pat[is_best], idx[is_best])
    first_upd = np.full(n_pat, _BIG, dtype=np.int64)
    is_upd = resp == IUPD
    np.minimum.at(first_upd, pat[is_upd], idx[is_upd])
    has_cpd, has_upd = first_cpd < _BIG, first_upd < _BIG
    score_names = np.array([INE, INN, ISD, IPR, ICR], dtype=np.int8)
    best = np.where(
        best_score > 0,
        score_names[best_score],
        np.where(has_cpd, ICPD, np.where(has_upd, IUPD, INE)),
    )
    best_tp = np.where(
        best_score > 0, best_tp, np.where(has_cpd, first_cpd, np.where(has_upd, first_upd, -1))
    )
    dates = prep.tp_date.astype("datetime64[D]")
    prog_tp = np.where(confirmed_u >= 0, confirmed_u, -1)
    adequate = (rank >= 1) & ~np.isin(resp, (INE, INONE))
    last = np.full(n_pat, -1, dtype=np.int64)
    np.maximum.at(last, pat[adequate], idx[adequate])
    end = np.where(prog_tp >= 0, prog_tp, np.where(last >= 0, last, prep.tp_start))
    ipfs_days = np.maximum(days[end], 0) if n_tp else end

    nlt_mm = np.where(tps.nlt_any & tps.nlt_full, tps.nlt_sum / U, np.nan)
    reason = _reasons(resp, why, recist_reason, n_tp)
    result = CriterionResult()
    result.timepoint_columns = {
        "inew_lesion_sum_mm": nlt_mm,
        "ioverall_response": pd.Categorical.from_codes(resp, I_NAMES),
        "ireason": pd.Series(reason, dtype=pd.ArrowDtype(pa.string())),
    }
    result.patient_columns = {
        "ibest_overall_response": I_NAMES[best],
        "ibest_response_date": _date_at(best_tp, dates),
        "iupd_date": _date_at(np.where(has_upd, first_upd, -1), dates),
        "icpd_date": _date_at(np.where(has_cpd, first_cpd, -1), dates),
        "iprogression_date": _date_at(prog_tp, dates),
        "ipfs_days": ipfs_days,
        "ipfs_event": (prog_tp >= 0).astype(np.int64),
    }
    result.run = {"confirm_min_days": settings.irecist_confirm_min_days}
    return result


def _date_at(tp_index: np.ndarray, dates: np.ndarray) -> np.ndarray:
    out = np.full(len(tp_index), np.datetime64("NaT", "D"))
    ok = tp_index >= 0
    out[ok] = dates[tp_index[ok]]
    return out


def _reasons(resp, why, recist_reason, n) -> pa.Array:
    base = recist_reason if recist_reason is not None else pa.repeat(pa.scalar(""), n)
    out = base
    for code, prefix in _REASON_PREFIX.items():
        out = pc.if_else(pa.array(why == code), pc.binary_join_element_wise(prefix, base, ""), out)
    for code, text in _CPD_TEXT.items():
        out = pc.if_else(pa.array(why == code), text, out)
    return out
