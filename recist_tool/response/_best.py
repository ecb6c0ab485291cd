"""Best overall response, progression, PFS, DoR, TTR and clinical benefit per patient.

RECIST 1.1 §4.4 and §4.6; confirmation of CR/PR as admiralonco's
``derive_param_confirmed_bor`` (``max_nr_ne``, ``accept_sd``, no PR after a CR in
the confirmation period); PFS censoring after missed assessments as the FDA's 2018
guidance on endpoints. Every function works on per-time-point arrays of the whole
cohort; loops run over time point offsets, each step vectorised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recist_tool.response._timepoint import CR, NE, NN, NONE, PD, PR, SD
from recist_tool.response.settings import ResponseSettings

# Scores for "best": CR > PR > SD > NON-CR/NON-PD; 0 = counts for nothing.
_SCORE_TO_CODE = np.array([NONE, NN, SD, PR, CR], dtype=np.int8)
_BIG = np.iinfo(np.int64).max


@dataclass
class Sequence:
    """Per time point responses of a cohort (rank 0 = baseline, no response).

    Attributes
    ----------
    tp_patient, tp_start, tp_count, tp_rank : numpy.ndarray
        Patient of each time point; first index and count per patient; rank.
    overall : numpy.ndarray
        Overall response codes as reported (with the "once PR" convention).
    overall_strict : numpy.ndarray
        Per time point, without it (confirmation uses these).
    days : numpy.ndarray
        Days from the patient's reference date.
    has_targets : numpy.ndarray
        Per time point: the patient has target lesions.
    backdated_rank : numpy.ndarray
        Per patient, rank progression is dated back to (``_BIG``: none).
    """

    tp_patient: np.ndarray
    tp_start: np.ndarray
    tp_count: np.ndarray
    tp_rank: np.ndarray
    overall: np.ndarray
    overall_strict: np.ndarray
    days: np.ndarray
    has_targets: np.ndarray
    backdated_rank: np.ndarray

    @property
    def n_patients(self) -> int:
        return len(self.tp_start)

    @property
    def n_tp(self) -> int:
        return len(self.tp_patient)


@dataclass
class PatientResult:
    """Per patient arrays."""

    best: np.ndarray  # response code
    best_tp: np.ndarray  # time point index of the best response, -1 when none
    response_tp: np.ndarray  # first time point of the (confirmed) CR/PR counted, -1
    confirmed_at: np.ndarray  # per patient: rank of the first confirming time point
    best_sod_tp: np.ndarray  # time point index of the smallest evaluable sum, -1
    first_followup_tp: np.ndarray  # -1 when none
    progression_tp: np.ndarray  # -1 when none (back-dated where confirmed equivocal)
    clinical_benefit: np.ndarray  # bool
    pfs_days: np.ndarray
    pfs_event: np.ndarray  # 1 event, 0 censored, -1 not evaluated
    pfs_reason: np.ndarray  # code, see PFS_REASONS
    pfs_missed: np.ndarray  # missed assessments before the event
    dor_days: np.ndarray  # -1 when not a responder
    dor_event: np.ndarray
    ttr_days: np.ndarray
    ttr_event: np.ndarray
    visit_interval_days: np.ndarray  # per patient, used for the missed-assessment rule


#: Texts of ``pfs_censoring`` in patients.csv.
PFS_REASONS = np.array(
    [
        "progression",
        "death",
        "censored: last adequate assessment",
        "censored: progression after missed assessments",
        "censored: death after missed assessments",
        "censored: no adequate assessment after baseline",
    ],
    dtype=object,
)


def _code_score(code: np.ndarray) -> np.ndarray:
    return np.select([code == CR, code == PR, code == SD, code == NN], [4, 3, 2, 1], default=0)


def best_response(
    seq: Sequence,
    settings: ResponseSettings,
    death_day: np.ndarray | None = None,
    sod: np.ndarray | None = None,
    sod_ok: np.ndarray | None = None,
) -> PatientResult:
    """Best overall response, progression and time-to-event endpoints of every patient.

    Parameters
    ----------
    seq : Sequence
    settings : ResponseSettings
    death_day : numpy.ndarray, optional
        Per patient, day of death from the reference date (``_BIG``: alive or unknown).
    sod, sod_ok : numpy.ndarray, optional
        Per time point sum of diameters and whether it is evaluable (best change).
    """
    n_pat, n_tp = seq.n_patients, seq.n_tp
    rank, pat, days = seq.tp_rank, seq.tp_patient, seq.days
    idx = np.arange(n_tp)

    first_pd = np.full(n_pat, _BIG, dtype=np.int64)
    is_pd = seq.overall_strict == PD
    np.minimum.at(first_pd, pat[is_pd], rank[is_pd])
    pd_rank = np.minimum(first_pd, seq.backdated_rank)
    has_pd = pd_rank < _BIG
    before_pd = (rank >= 1) & (rank < pd_rank[pat])
    upto_pd = (rank >= 1) & (rank <= pd_rank[pat])

    sd_ok = days >= settings.sd_min_days
    confirmed_at = np.full(n_pat, _BIG, dtype=np.int64)
    if settings.confirm:
        score, conf_rank = _confirmed_scores(seq, upto_pd, settings)
        ok = conf_rank < _BIG
        np.minimum.at(confirmed_at, pat[ok], conf_rank[ok])
    else:
        score = _code_score(seq.overall)
    # SD-level responses (and unconfirmed CR/PR, scored 2) need the minimum duration.
    sd_level = score <= 2
    benefit_tp = before_pd & (score > 0) & (~sd_level | (days >= settings.cbr_min_days))
    score = np.where(sd_level & ~sd_ok, 0, score)
    score = np.where(before_pd, score, 0)

    best_score = np.zeros(n_pat, dtype=np.int64)
    np.maximum.at(best_score, pat, score)
    is_best = (score == best_score[pat]) & (score > 0)
    best_tp = np.full(n_pat, _BIG, dtype=np.int64)
    np.minimum.at(best_tp, pat[is_best], idx[is_best])
    progression_tp = np.where(has_pd, seq.tp_start + np.where(has_pd, pd_rank, 0), -1)
    best = np.where(best_score > 0, _SCORE_TO_CODE[best_score], np.where(has_pd, PD, NE))
    best_tp = np.where(best_score > 0, best_tp, np.where(has_pd, progression_tp, -1))
    responder = best_score >= 3
    is_resp = (score >= 3) & before_pd
    response_tp = np.full(n_pat, _BIG, dtype=np.int64)
    np.minimum.at(response_tp, pat[is_resp], idx[is_resp])
    response_tp = np.where(responder, response_tp, -1)
    clinical_benefit = np.zeros(n_pat, dtype=bool)
    clinical_benefit[pat[benefit_tp]] = True
    clinical_benefit |= responder

    # Smallest evaluable sum up to and including the progression time point.
    best_sod_tp = np.full(n_pat, -1, dtype=np.int64)
    if sod is not None:
        cand = upto_pd & sod_ok
        key = np.where(cand, sod, _BIG)
        best_sod = np.full(n_pat, _BIG, dtype=np.int64)
        np.minimum.at(best_sod, pat, key)
        hit = cand & (sod == best_sod[pat])
        tmp = np.full(n_pat, _BIG, dtype=np.int64)
        np.minimum.at(tmp, pat[hit], idx[hit])
        best_sod_tp = np.where(tmp == _BIG, -1, tmp)

    first_followup = np.where(seq.tp_count > 1, seq.tp_start + 1, -1)
    pfs = _pfs(seq, settings, has_pd, pd_rank, death_day)
    (pfs_days, pfs_event, reason, missed, interval, end_day) = pfs
    resp_day = np.where(responder, days[np.maximum(response_tp, 0)] if n_tp else 0, 0)
    dor_days = np.where(responder, end_day - resp_day, -1)
    dor_event = np.where(responder, pfs_event, -1)
    ttr_days = np.where(responder, np.maximum(resp_day, 0), np.maximum(end_day, 0))
    ttr_event = responder.astype(np.int8)
    return PatientResult(
        best=best.astype(np.int8),
        best_tp=best_tp,
        response_tp=response_tp,
        confirmed_at=confirmed_at,
        best_sod_tp=best_sod_tp,
        first_followup_tp=first_followup,
        progression_tp=progression_tp,
        clinical_benefit=clinical_benefit,
        pfs_days=pfs_days,
        pfs_event=pfs_event,
        pfs_reason=reason,
        pfs_missed=missed,
        dor_days=dor_days,
        dor_event=dor_event,
        ttr_days=ttr_days,
        ttr_event=ttr_event,
        visit_interval_days=interval,
    )


def visit_interval(seq: Sequence, settings: ResponseSettings, upto: np.ndarray) -> np.ndarray:
    """Per patient, the planned interval between assessments.

    The setting when given; otherwise the median gap between the patient's own
    consecutive assessments among those where ``upto`` holds (baseline included),
    so that every patient is evaluated independently of the cohort (inf when the
    patient has no such gap).
    """
    if settings.visit_interval_days is not None:
        return np.full(seq.n_patients, float(settings.visit_interval_days))
    out = np.full(seq.n_patients, math.inf)
    if seq.n_tp < 2:
        return out
    gap = np.diff(seq.days).astype(float)
    ok = (seq.tp_rank[1:] > 0) & upto[1:] & upto[:-1] & (gap > 0)
    if ok.any():
        med = pd.Series(gap[ok]).groupby(seq.tp_patient[1:][ok]).median()
        out[med.index.to_numpy()] = med.to_numpy()
    return out


def _pfs(seq, settings, has_pd, pd_rank, death_day):
    """PFS from the reference date, FDA-style censoring after missed assessments.

    The event is the first progression (back-dated where a confirmed equivocal
    finding says so) or death, whichever is first. An event following
    ``max_missed`` or more missed assessments is censored at the last adequate
    assessment before it. Assessment k after the last adequate one (day A) is missed
    when no adequate assessment occurs by ``A + (k + 1/2) x interval`` (half an
    interval of tolerance), so an event at day E follows
    ``max(0, ceil((E - A) / interval - 1/2) - 1)`` missed assessments.
    """
    n_pat = seq.n_patients
    rank, pat, days = seq.tp_rank, seq.tp_patient, seq.days
    idx = np.arange(seq.n_tp)
    adequate = (rank >= 1) & (seq.overall_strict != NE) & (seq.overall_strict != NONE)
    # last adequate assessment before the progression time point (or overall)
    limit = np.where(has_pd, pd_rank, _BIG)
    cand = adequate & (rank < limit[pat])
    interval = visit_interval(seq, settings, cand | (rank == 0))
    last = np.full(n_pat, -1, dtype=np.int64)
    np.maximum.at(last, pat[cand], idx[cand])
    last_day = np.where(last >= 0, days[np.maximum(last, 0)], 0) if seq.n_tp else last * 0
    last_day = np.maximum(last_day, 0)
    pd_day = np.where(has_pd, days[seq.tp_start + np.where(has_pd, pd_rank, 0)], _BIG)
    pd_day = np.where(has_pd, np.maximum(pd_day, 0), _BIG)
    if death_day is None:
        death_day = np.full(n_pat, _BIG, dtype=np.int64)
    death_day = np.where(death_day < _BIG, np.maximum(death_day, last_day), _BIG)
    by_death = death_day < pd_day
    event_day = np.minimum(pd_day, death_day)
    has_event = event_day < _BIG
    gap = np.where(has_event, event_day - last_day, 0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.ceil(gap / interval - 0.5) - 1
    missed = np.where(np.isfinite(m), np.maximum(m, 0), 0).astype(np.int64)
    censor_missed = has_event & (settings.max_missed > 0) & (missed >= settings.max_missed)
    event = has_event & ~censor_missed
    end_day = np.where(event, event_day, last_day)
    reason = np.select(
        [
            event & ~by_death,
            event & by_death,
            censor_missed & ~by_death,
            censor_missed & by_death,
            last < 0,
        ],
        [0, 1, 3, 4, 5],
        default=2,
    ).astype(np.int8)
    return end_day, event.astype(np.int8), reason, missed, interval, end_day


def _confirmed_scores(
    seq: Sequence, upto_pd: np.ndarray, settings: ResponseSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Scores when CR/PR need confirmation, as admiralonco's confirmed BOR.

    A CR is confirmed by the first CR at least ``confirm_days`` later when every
    assessment between is CR or NE (at most ``max_ne`` NE). A PR is confirmed by the
    first CR or PR at least ``confirm_days`` later when every assessment between is
    CR, PR, SD or NE, at most ``max_ne`` NE, no SD (one with ``accept_sd``), and no
    PR follows a CR. Only assessments up to the first PD count. Unconfirmed CR/PR
    score as SD (NON-CR/NON-PD without targets), subject to the SD duration.

    Returns the scores and, per time point, the rank of its confirming time point
    (``_BIG`` when not confirmed).
    """
    overall = seq.overall_strict
    score = _code_score(overall)
    conf_rank = np.full(seq.n_tp, _BIG, dtype=np.int64)
    cand = np.flatnonzero(upto_pd & ((overall == CR) | (overall == PR)))
    if len(cand) == 0:
        return score, conf_rank
    is_cr = overall[cand] == CR
    end = seq.tp_start[seq.tp_patient[cand]] + seq.tp_count[seq.tp_patient[cand]]
    alive = np.ones(len(cand), dtype=bool)
    ok = np.zeros(len(cand), dtype=bool)
    n_ne = np.zeros(len(cand), dtype=np.int64)
    n_sd = np.zeros(len(cand), dtype=np.int64)
    seen_cr = np.zeros(len(cand), dtype=bool)
    max_sd = 1 if settings.accept_sd else 0
    at = np.full(len(cand), _BIG, dtype=np.int64)
    k = 1
    while alive.any():
        j = cand + k
        inside = alive & (j < end)
        jj = np.where(inside, j, 0)
        inside &= upto_pd[jj]
        alive &= inside
        if not alive.any():
            break
        r = overall[jj]
        late = (seq.days[jj] - seq.days[cand]) >= settings.confirm_days
        # CR candidates
        c_conf = alive & is_cr & (r == CR) & late
        c_go = alive & is_cr & ~c_conf & ((r == CR) | (r == NE))
        # PR candidates
        p_first = alive & ~is_cr & ((r == CR) | (r == PR)) & late
        p_bad_order = (r == PR) & seen_cr
        p_conf = p_first & ~p_bad_order
        p_go = alive & ~is_cr & ~p_first & np.isin(r, (CR, PR, SD, NE)) & ~p_bad_order
        n_ne += alive & (r == NE)
        n_sd += alive & ~is_cr & (r == SD)
        seen_cr |= alive & ~is_cr & (r == CR)
        within = (n_ne <= settings.max_ne) & (n_sd <= max_sd)
        done = (c_conf | p_conf) & within
        ok |= done
        at = np.where(done, seq.tp_rank[jj], at)
        alive &= (c_go | p_go) & within
        k += 1
    conf_rank[cand] = at
    unconfirmed = np.where(seq.has_targets[cand], 2, 1)
    score[cand] = np.where(ok, np.where(is_cr, 4, 3), unconfirmed)
    return score, conf_rank
