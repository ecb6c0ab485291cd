"""Best overall response, progression date and PFS per patient (RECIST 1.1 §4.4)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recist_tool.response._prepare import Prepared
from recist_tool.response._timepoint import CR, NE, NN, NONE, PD, PR, SD, TimepointResult
from recist_tool.response.settings import ResponseSettings

# Scores for "best": CR > PR > SD > NON-CR/NON-PD; 0 = counts for nothing.
_SCORE_TO_CODE = np.array([NONE, NN, SD, PR, CR], dtype=np.int8)
_BIG = np.iinfo(np.int64).max


@dataclass
class PatientResult:
    """Per patient arrays."""

    best: np.ndarray  # response code
    best_tp: np.ndarray  # time point index of the best response, -1 when none
    best_sod_tp: np.ndarray  # time point index of the smallest evaluable sum, -1
    first_followup_tp: np.ndarray  # -1 when none
    progression_tp: np.ndarray  # -1 when none (back-dated where confirmed equivocal)
    pfs_days: np.ndarray
    pfs_event: np.ndarray


def _code_score(code: np.ndarray) -> np.ndarray:
    return np.select([code == CR, code == PR, code == SD, code == NN], [4, 3, 2, 1], default=0)


def best_response(
    prep: Prepared, tps: TimepointResult, settings: ResponseSettings
) -> PatientResult:
    """Best overall response and progression of every patient."""
    n_pat = prep.n_patients
    rank, pat = prep.tp_rank, prep.tp_patient
    days = prep.tp_date - prep.tp_date[prep.tp_start][pat]
    overall = tps.overall

    first_pd = np.full(n_pat, _BIG, dtype=np.int64)
    is_pd = overall == PD
    np.minimum.at(first_pd, pat[is_pd], rank[is_pd])
    pd_rank = np.minimum(first_pd, tps.backdated_rank)
    has_pd = pd_rank < _BIG
    before_pd = (rank >= 1) & (rank < pd_rank[pat])

    sd_ok = days >= settings.sd_min_days
    if settings.confirm:
        # Confirmation needs a real second response: a PR kept only by the
        # "once PR, PR until PD" convention confirms nothing.
        strict = tps.overall_strict_pr
        score = _confirmed_scores(
            prep, strict, days, before_pd, _code_score(strict), tps.n_targets > 0, settings
        )
    else:
        score = _code_score(overall)
    # SD-level responses (and unconfirmed CR/PR, scored 2) need the minimum duration.
    score = np.where((score <= 2) & ~sd_ok, 0, score)
    score = np.where(before_pd, score, 0)

    best_score = np.zeros(n_pat, dtype=np.int64)
    np.maximum.at(best_score, pat, score)
    is_best = (score == best_score[pat]) & (score > 0)
    best_tp = np.full(n_pat, _BIG, dtype=np.int64)
    idx = np.arange(prep.n_tp)
    np.minimum.at(best_tp, pat[is_best], idx[is_best])
    progression_tp = np.where(has_pd, prep.tp_start + np.where(has_pd, pd_rank, 0), -1)
    best = np.where(best_score > 0, _SCORE_TO_CODE[best_score], np.where(has_pd, PD, NE))
    best_tp = np.where(best_score > 0, best_tp, np.where(has_pd, progression_tp, -1))

    # Smallest evaluable sum up to and including the progression time point.
    upto_pd = (rank >= 1) & (rank <= np.where(has_pd, pd_rank, _BIG)[pat]) & tps.full
    upto_pd &= tps.n_targets > 0
    key = np.where(upto_pd, tps.sod, _BIG)
    best_sod = np.full(n_pat, _BIG, dtype=np.int64)
    np.minimum.at(best_sod, pat, key)
    hit = upto_pd & (tps.sod == best_sod[pat])
    best_sod_tp = np.full(n_pat, _BIG, dtype=np.int64)
    np.minimum.at(best_sod_tp, pat[hit], idx[hit])
    best_sod_tp = np.where(best_sod_tp == _BIG, -1, best_sod_tp)

    first_followup = np.where(prep.tp_count > 1, prep.tp_start + 1, -1)
    evaluable = (rank >= 1) & (overall != NE) & (overall != NONE)
    last_eval = np.full(n_pat, -1, dtype=np.int64)
    np.maximum.at(last_eval, pat[evaluable], idx[evaluable])
    end_tp = np.where(has_pd, progression_tp, np.where(last_eval >= 0, last_eval, prep.tp_start))
    pfs_days = days[end_tp] if prep.n_tp else np.zeros(0, np.int64)
    return PatientResult(
        best=best.astype(np.int8),
        best_tp=best_tp,
        best_sod_tp=best_sod_tp,
        first_followup_tp=first_followup,
        progression_tp=progression_tp,
        pfs_days=pfs_days,
        pfs_event=has_pd.astype(np.int8),
    )


def _confirmed_scores(
    prep: Prepared,
    overall: np.ndarray,
    days: np.ndarray,
    before_pd: np.ndarray,
    score: np.ndarray,
    has_targets: np.ndarray,
    settings: ResponseSettings,
) -> np.ndarray:
    """Scores when CR/PR need confirmation (RECIST 1.1 Table 3).

    A CR is confirmed by a CR, a PR by a PR or CR, at a time point at least
    ``confirm_days`` later and before progression, with only responses of the
    confirming kind (or NE) in between. A CR confirmed only by a PR counts as PR.
    Unconfirmed CR/PR count as SD (NON-CR/NON-PD without targets), subject to the
    SD duration.
    """

    def confirmed(t: int, allowed: tuple[int, ...]) -> bool:
        end = prep.tp_start[prep.tp_patient[t]] + prep.tp_count[prep.tp_patient[t]]
        for j in range(t + 1, end):
            if not before_pd[j] or overall[j] not in (*allowed, NE):
                return False
            if overall[j] != NE and days[j] - days[t] >= settings.confirm_days:
                return True
        return False

    score = score.copy()
    for t in np.flatnonzero(before_pd & ((overall == CR) | (overall == PR))):
        if overall[t] == CR and confirmed(t, (CR,)):
            score[t] = 4
        elif confirmed(t, (CR, PR)):
            score[t] = 3
        else:
            score[t] = 2 if has_targets[t] else 1
    return score
