"""Response criteria v2 (issue 10): rule fixes, display values, reasons, reference date,
PFS censoring, confirmation as admiralonco (its own test data), TGR and Choi.

Each case is one patient's measurements (or, for confirmation, admiralonco's own
per-visit responses); expected values come from the sources named in each test.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from recist_tool.annotations import to_frame
from recist_tool.response import ResponseSettings, evaluate
from recist_tool.response._best import Sequence, best_response
from recist_tool.response._timepoint import CR, NE, NN, NONE, PD, PR, RESPONSE_NAMES, SD
from recist_tool.response.display import rounded_pct
from tests.recist_tool.cohort_builder import GONE, NE_, new, node, nt, patient, tp


def tps(rows, **settings) -> pd.DataFrame:
    return evaluate(rows, ResponseSettings(**settings)).timepoints.iloc[1:]


def col(rows, name, **settings) -> list:
    return tps(rows, **settings)[name].astype(object).tolist()


def pat(rows, **settings) -> pd.Series:
    return evaluate(rows, ResponseSettings(**settings)).patients.iloc[0]


# ------------------------------------------------------------ 1. reappearance after CR
def test_node_back_after_target_cr_with_non_target_present_is_judged_by_the_sum():
    rows = patient(
        tp(0, L1=30, N1=node(20), T1=nt()),
        tp(56, L1=GONE, N1=node(8), T1=nt()),
        tp(112, L1=GONE, N1=node(11), T1=nt()),
    )
    assert col(rows, "overall_response") == ["PR", "PR"]  # 8 -> 11: +3 mm, not PD
    assert col(rows, "target_response") == ["CR", "PR"]


def test_node_back_after_overall_cr_is_pd():
    rows = patient(
        tp(0, L1=30, N1=node(20), T1=nt()),
        tp(56, L1=GONE, N1=node(8), T1=nt("absent")),
        tp(112, L1=GONE, N1=node(11), T1=nt("absent")),
    )
    assert col(rows, "overall_response") == ["CR", "PD"]
    assert col(rows, "reason")[1] == "reappearance after CR: N1"


def test_non_target_present_again_after_overall_cr_is_pd():
    rows = patient(
        tp(0, L1=30, T1=nt()), tp(56, L1=GONE, T1=nt("absent")), tp(112, L1=GONE, T1=nt())
    )
    assert col(rows, "overall_response") == ["CR", "PD"]
    assert col(rows, "non_target_response") == ["CR", "PD"]
    assert col(rows, "reason")[1] == "reappearance after CR: T1"
    assert str(pat(rows)["progression_date"])[:10] == "2024-04-22"


def test_non_target_only_cr_then_present_is_pd():
    rows = patient(tp(0, T1=nt()), tp(56, T1=nt("absent")), tp(112, T1=nt()))
    assert col(rows, "overall_response") == ["CR", "PD"]


def test_reappearance_counts_the_last_non_ne_response():
    rows = patient(
        tp(0, L1=30, T1=nt()),
        tp(56, L1=GONE, T1=nt("absent")),
        tp(112, L1=NE_, T1=nt("not_evaluated")),
        tp(168, L1=3, T1=nt("absent")),
    )
    assert col(rows, "overall_response") == ["CR", "NE", "PD"]


def test_target_cr_alone_then_growth_is_not_automatic_pd():
    # targets CR while a non-target is present (overall PR): a target back at 3 mm
    # is 0 -> 3 mm (+3 mm) from nadir 0: not PD by the sum rule
    rows = patient(tp(0, L1=30, T1=nt()), tp(56, L1=GONE, T1=nt()), tp(112, L1=3, T1=nt()))
    assert col(rows, "overall_response") == ["PR", "PR"]


# ------------------------------------------------------------ 2. equivocal NT progression
def test_equivocal_non_target_progression_is_dated_back():
    rows = patient(
        tp(0, L1=50, T1=nt()),
        tp(56, L1=45, T1=nt("equivocal_progression")),
        tp(112, L1=45, T1=nt("progression")),
    )
    assert col(rows, "overall_response") == ["SD", "PD"]  # nothing changes at d56
    p = pat(rows)
    assert str(p["progression_date"])[:10] == "2024-02-26"
    assert p["pfs_days"] == 56 and p["best_overall_response"] == "PD"


def test_equivocal_non_target_not_confirmed_changes_nothing():
    rows = patient(
        tp(0, L1=50, T1=nt()),
        tp(56, L1=45, T1=nt("equivocal_progression")),
        tp(112, L1=45, T1=nt("present")),
    )
    p = pat(rows)
    assert p["pfs_event"] == 0 and p["best_overall_response"] == "SD"


# ------------------------------------------------------------ 3. late non-targets
def test_non_target_first_recorded_at_follow_up_is_a_new_lesion():
    rows = patient(tp(0, L1=50), tp(56, L1=45, T9=nt()))
    res = evaluate(rows)
    assert res.timepoints["overall_response"].tolist()[1:] == ["PD"]
    assert res.timepoints["new_lesions"].tolist()[1:] == ["yes"]
    assert "T9 first recorded at follow-up" in res.timepoints["reason"].iat[1]
    msg = res.messages.set_index("rule").loc["non_target_not_at_baseline", "message"]
    assert "counted as a new lesion" in msg


def test_late_non_target_with_incomplete_baseline_is_a_non_target():
    frame = to_frame(patient(tp(0, L1=50), tp(56, L1=45, T9=nt())))
    frame["baseline_incomplete"] = "true"
    res = evaluate(frame)
    assert res.timepoints["overall_response"].tolist()[1:] == ["SD"]
    assert res.timepoints["non_target_response"].tolist()[1:] == ["NON-CR/NON-PD"]


# ------------------------------------------------------------ 7. display values
def test_display_never_contradicts_the_response():
    # 100 -> 70.05: -29.95 % is SD and reads -29.9 %, not -30.0 %
    res = evaluate(patient(tp(0, L1=100), tp(56, L1=70.05)))
    fu = res.timepoints.iloc[1]
    assert fu["overall_response"] == "SD" and fu["change_from_baseline_pct"] == -29.9
    assert res.display_timepoints()["change_from_baseline"].iat[1] == "-29.9 %"
    assert res.exact_pct("change_from_baseline_pct")[1] == pytest.approx(-29.95)
    # 33.3 -> 23.31 is exactly -30 %: PR, -30.0 %
    res = evaluate(patient(tp(0, L1=33.3), tp(56, L1=23.31)))
    assert res.timepoints["change_from_baseline_pct"].iat[1] == -30.0


@pytest.mark.parametrize(
    ("num", "ref", "shown"),
    [
        (70.05, 100, -29.9),  # SD side of -30
        (69.96, 100, -30.0),  # PR side, rounds to -30.0
        (119.96, 100, 19.9),  # not PD: never +20.0
        (120.04, 100, 20.0),
        (85.04, 100, -14.9),  # Choi density: -14.96 % never -15.0
        (110.04, 100, 10.0),
        (54.35, 100, -45.7),  # half away from zero elsewhere (-45.65)
    ],
)
def test_rounded_pct_keeps_the_side_of_every_threshold(num, ref, shown):
    u = 1_000_000
    assert rounded_pct(np.array([round(num * u)]), np.array([ref * u]))[0] == shown


# ------------------------------------------------------------ 8. reasons
def test_reasons_name_the_rule():
    rows = patient(
        tp(0, L1=28),
        tp(56, L1=28, N2=new()),
    )
    assert col(rows, "reason") == ["new lesion N2"]
    rows = patient(tp(0, L1=30), tp(56, L1=28), tp(112, L1=34))
    assert col(rows, "reason")[1] == "target PD: +21.4 % and +6.0 mm from nadir 28.0"
    rows = patient(tp(0, L1=100), tp(56, L1=60), tp(112, L1=71))
    assert col(rows, "reason") == [
        "target PR: -40.0 % from baseline 100.0",
        "PR kept (once PR, PR until PD): -29.0 % from baseline 100.0",
    ]
    assert col(rows, "target_response_strict") == ["PR", "SD"]


# ------------------------------------------------------------ 4. confirmation (admiralonco)
ADRS = """\
USUBJID,ADT,AVALC
1,2020-01-01,PR
1,2020-02-01,CR
1,2020-02-16,NE
1,2020-03-01,CR
1,2020-04-01,SD
2,2020-01-01,SD
2,2020-02-01,PR
2,2020-03-01,SD
2,2020-03-13,CR
3,2019-11-12,CR
3,2019-12-02,CR
3,2020-01-01,SD
4,2020-01-01,PR
4,2020-03-01,SD
4,2020-04-01,SD
4,2020-05-01,PR
4,2020-05-15,NON-CR/NON-PD
5,2020-01-01,PR
5,2020-01-10,SD
5,2020-01-20,PR
5,2020-05-15,NON-CR/NON-PD
6,2020-02-06,PR
6,2020-02-16,CR
6,2020-03-30,PR
9,2020-02-16,PD
9,2020-03-06,SD
"""
TRTSDT = {
    "1": "2020-01-01",
    "2": "2019-12-12",
    "3": "2019-11-11",
    "4": "2019-12-30",
    "5": "2020-01-01",
    "6": "2020-02-02",
    "9": "2020-02-01",
}
# admiralonco tests/testthat/test-derive_param_confirmed_bor.R, tests 1 and 2
ADMIRAL_1 = {
    "1": ("CR", "2020-02-01"),
    "2": ("SD", "2020-02-01"),
    "3": ("SD", "2020-01-01"),
    "4": ("SD", "2020-03-01"),
    "5": ("NON-CR/NON-PD", "2020-05-15"),
    "6": ("SD", "2020-03-30"),
    "9": ("PD", "2020-02-16"),
}
ADMIRAL_2 = {
    "1": ("PR", "2020-01-01"),
    "2": ("PR", "2020-02-01"),
    "3": ("CR", "2019-11-12"),
    "4": ("SD", "2020-03-01"),
    "5": ("PR", "2020-01-01"),
    "6": ("SD", "2020-03-30"),
    "9": ("PD", "2020-02-16"),
}
_CODE = {n: i for i, n in enumerate(RESPONSE_NAMES) if n}


def _admiral_bor(settings: ResponseSettings) -> dict[str, tuple[str, str]]:
    import io

    adrs = pd.read_csv(io.StringIO(ADRS), dtype=str)
    ids = sorted(adrs["USUBJID"].unique())
    patient_, rank, days, code, dates = [], [], [], [], []
    for p, pid in enumerate(ids):
        rows = adrs[adrs["USUBJID"] == pid]
        t0 = dt.date.fromisoformat(TRTSDT[pid])
        # a baseline row (no response), then the visits in date order
        patient_.append(p)
        rank.append(0)
        days.append(-1)
        code.append(NONE)
        dates.append("")
        for r, adt in enumerate(rows["ADT"], start=1):
            patient_.append(p)
            rank.append(r)
            days.append((dt.date.fromisoformat(adt) - t0).days)
            dates.append(adt)
        code.extend(_CODE[a] for a in rows["AVALC"])
    patient_a = np.array(patient_)
    count = np.bincount(patient_a)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    codes = np.array(code, dtype=np.int8)
    seq = Sequence(
        tp_patient=patient_a,
        tp_start=start,
        tp_count=count,
        tp_rank=np.array(rank),
        overall=codes,
        overall_strict=codes,
        days=np.array(days),
        has_targets=np.ones(len(codes), bool),
        backdated_rank=np.full(len(ids), np.iinfo(np.int64).max),
    )
    res = best_response(seq, settings)
    return {
        pid: (RESPONSE_NAMES[res.best[p]], dates[res.best_tp[p]] if res.best_tp[p] >= 0 else "")
        for p, pid in enumerate(ids)
    }


def test_confirmed_bor_matches_admiralonco_defaults():
    s = ResponseSettings(confirm=True, confirm_days=28, sd_min_days=28)
    assert _admiral_bor(s) == ADMIRAL_1


def test_confirmed_bor_matches_admiralonco_accept_sd_no_ne():
    s = ResponseSettings(confirm=True, confirm_days=14, sd_min_days=28, max_ne=0, accept_sd=True)
    assert _admiral_bor(s) == ADMIRAL_2


def test_pr_cr_pr_is_not_a_confirmed_cr():
    rows = patient(tp(0, L1=50), tp(56, L1=20), tp(84, L1=GONE), tp(126, L1=20))
    # CR then PR would be a reappearance after overall CR: recorded here per time point
    assert pat(rows, confirm=True)["best_overall_response"] == "PR"


def test_hold_under_confirmation_starts_after_the_confirmation():
    rows = patient(tp(0, L1=100), tp(56, L1=60), tp(70, L1=71), tp(126, L1=60))
    # PR d56 is broken by the SD at d70 (accept_sd off): no hold at d70
    assert col(rows, "target_response", confirm=True) == ["PR", "SD", "PR"]
    rows = patient(tp(0, L1=100), tp(56, L1=60), tp(84, L1=60), tp(140, L1=71))
    assert col(rows, "target_response", confirm=True) == ["PR", "PR", "PR"]
    assert col(rows, "target_response_strict", confirm=True) == ["PR", "PR", "SD"]


# ------------------------------------------------------------ 5. reference date, PFS
def test_reference_date_from_treatment_date():
    frame = to_frame(patient(tp(0, L1=100), tp(40, L1=90), tp(100, L1=130)))
    frame["treatment_date"] = "2023-12-20"  # 12 days before the baseline scan
    res = evaluate(frame)
    assert res.timepoints["days_from_reference"].tolist() == [12, 52, 112]
    p = res.patients.iloc[0]
    assert p["best_overall_response"] == "SD"  # 52 days from treatment >= 42
    assert p["pfs_days"] == 112 and res.run["reference_date"] == "treatment_date"
    # from the baseline scan the SD at day 40 is too early
    assert (
        pat(patient(tp(0, L1=100), tp(40, L1=90), tp(100, L1=130)))["best_overall_response"] == "PD"
    )


def test_pd_after_two_missed_assessments_is_censored():
    rows = patient(tp(0, L1=100), tp(56, L1=90), tp(112, L1=90), tp(300, L1=130))
    p = pat(rows)
    assert (p["pfs_days"], p["pfs_event"]) == (112, 0)
    assert p["pfs_censoring"] == "censored: progression after missed assessments"
    p = pat(rows, max_missed=0)
    assert (p["pfs_days"], p["pfs_event"], p["pfs_censoring"]) == (300, 1, "progression")
    # one missed assessment (PD at the second planned visit after the last one): event
    rows = patient(tp(0, L1=100), tp(56, L1=90), tp(112, L1=90), tp(230, L1=130))
    assert pat(rows)["pfs_event"] == 1


def test_death_from_clinical_is_a_pfs_event():
    rows = patient(tp(0, L1=100), tp(56, L1=90), tp(112, L1=90))
    clinical = pd.DataFrame(
        {"patient_id": ["P1"], "death": [1], "last_contact_date": ["2024-05-30"]}
    )
    p = evaluate(rows, clinical=clinical).patients.iloc[0]
    assert (p["pfs_days"], p["pfs_event"], p["pfs_censoring"]) == (150, 1, "death")


def test_dor_ttr_and_clinical_benefit():
    rows = patient(tp(0, L1=100), tp(56, L1=60), tp(112, L1=60), tp(168, L1=90))
    p = pat(rows)
    assert (p["ttr_days"], p["dor_days"], p["dor_event"]) == (56, 112, 1)
    assert p["clinical_benefit"] == 1
    sd = pat(patient(tp(0, L1=100), tp(56, L1=90), tp(112, L1=90), tp(168, L1=90)))
    assert sd["clinical_benefit"] == 1  # SD at day 168 = 24 weeks
    sd = pat(patient(tp(0, L1=100), tp(56, L1=90), tp(112, L1=90), tp(160, L1=130)))
    assert sd["clinical_benefit"] == 0 and pd.isna(sd["dor_days"])


# ------------------------------------------------------------ TGR
def test_tumour_growth_rate_baseline_and_pre():
    # S 50 -> 60 in exactly 3 months: 100 (exp(3 ln 1.2 / 3) - 1) = 20 %/month
    frame = to_frame(patient(tp(-91, "pre", L1=40), tp(0, L1=50), tp(91, L1=60)))
    frame.loc[frame["timepoint"] == "pre", "date"] = "2023-10-01"
    res = evaluate(frame)
    p = res.patients.iloc[0]
    months = 91 / 30.4375
    assert p["tgr_pct_month"] == pytest.approx(
        100 * (np.exp(3 * np.log(1.2) / months) - 1), abs=0.005
    )
    pre_months = (dt.date(2024, 1, 1) - dt.date(2023, 10, 1)).days / 30.4375
    assert p["tgr_pre_pct_month"] == pytest.approx(
        100 * (np.exp(3 * np.log(50 / 40) / pre_months) - 1), abs=0.005
    )
    assert "pre" not in res.timepoints["timepoint"].tolist()  # not a RECIST time point
    assert str(p["baseline_date"])[:10] == "2024-01-01"


# ------------------------------------------------------------ Choi
def _choi(sizes, hus, **kw):
    rows = patient(*(tp(d, L1=s) for d, s in sizes))
    frame = to_frame(rows)
    frame["mean_hu"] = [str(h) for h in hus]
    res = evaluate(frame, ResponseSettings(criteria=("choi",), **kw))
    return res


def test_choi_density_decrease_is_pr():
    res = _choi([(0, 100), (56, 95)], [80, 67])  # size -5 %, density -16.25 %
    assert res.timepoints["choi_response"].tolist()[1:] == ["PR"]
    assert res.timepoints["overall_response"].tolist()[1:] == ["SD"]  # RECIST
    assert res.timepoints["choi_density_change_pct"].tolist()[1] == -16.3


@pytest.mark.parametrize(
    ("sizes", "hus", "expected"),
    [
        ([(0, 100), (56, 89.9)], [80, 80], "PR"),  # size -10.1 %
        ([(0, 100), (56, 95)], [80, 68.1], "SD"),  # density -14.9 %
        ([(0, 100), (56, 95)], [80, 68], "PR"),  # density exactly -15 %: "15 % or more"
        ([(0, 100), (56, 90)], [80, 80], "PR"),  # size exactly -10 %: "10 % or more"
        ([(0, 100), (56, 110)], [80, 80], "PD"),  # +10 % from nadir
        ([(0, 100), (56, 110)], [80, 60], "PR"),  # +10 % but density PR: not PD
        ([(0, 100), (56, 109.9)], [80, 80], "SD"),
    ],
)
def test_choi_table(sizes, hus, expected):
    assert _choi(sizes, hus).timepoints["choi_response"].tolist()[1:] == [expected]


def test_choi_best_response_columns():
    res = _choi([(0, 100), (56, 88), (112, 120)], [80, 80, 80])
    p = res.patients.iloc[0]
    assert p["choi_best_response"] == "PR" and str(p["choi_progression_date"])[:10] == "2024-04-22"


def test_response_codes_are_distinct():
    assert len({NONE, CR, PR, SD, PD, NE, NN}) == 7
