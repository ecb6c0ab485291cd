"""iRECIST (Seymour et al., Lancet Oncol 2017), table-driven.

Rows follow the paper's Table 3 (best overall response scenarios, examples 1-8),
Table 2 (time point response with a prior iUPD) and the RECIST working group's
iRECIST clarifications (scenarios B and F; scans earlier than 4 weeks after iUPD).
Each case is lesion measurements; the engine computes every response.
"""

from __future__ import annotations

import pytest

from recist_tool.annotations import Measurement
from recist_tool.response import ResponseSettings, evaluate
from tests.recist_tool.cohort_builder import GONE, NE_, Spec, new, nt, patient, tp

IR = ResponseSettings(criteria=("irecist",))


def nlt(la: float, status: str = "measured") -> Spec:
    """A new-lesion target (iRECIST), long axis ``la``."""
    return Spec("new_target", status, la, None, False, "lung")


def nlnt(status: str = "present") -> Spec:
    """A new-lesion non-target (iRECIST)."""
    return Spec("new_non_target", status, None, None, False, "bone")


def run(*tps_):
    res = evaluate(patient(*tps_), IR)
    return (
        res.timepoints["ioverall_response"].astype(str).tolist()[1:],
        res.patients.iloc[0],
        res,
    )


CASES = [
    # (name, time points, expected iRECIST per follow-up, expected iBOR)
    (
        "Table 3 ex. 6: iUPD, iCPD (target sum +5 mm)",
        [tp(0, L1=50), tp(56, L1=65), tp(112, L1=72)],
        ["iUPD", "iCPD"],
        "iCPD",
    ),
    (
        "Table 3 ex. 7: iUPD, iUPD (no further growth), iCPD",
        [tp(0, L1=50), tp(56, L1=65), tp(112, L1=67), tp(168, L1=71)],
        ["iUPD", "iUPD", "iCPD"],
        "iCPD",
    ),
    (
        "Table 3 ex. 8: iUPD, NE, NE -> iBOR iUPD",
        [tp(0, L1=50), tp(56, L1=65), tp(112, L1=NE_), tp(168, L1=NE_)],
        ["iUPD", "iNE", "iNE"],
        "iUPD",
    ),
    (
        "Table 3 ex. 5: iUPD, iSD (bar reset)",
        [tp(0, L1=50), tp(56, L1=65), tp(112, L1=52)],
        ["iUPD", "iSD"],
        "iSD",
    ),
    (
        "Table 3 ex. 2: iUPD, iPR, iCR",
        [tp(0, L1=50), tp(56, L1=65), tp(112, L1=30), tp(168, L1=GONE)],
        ["iUPD", "iPR", "iCR"],
        "iCR",
    ),
    (
        "Table 3 ex. 1: iCR, iUPD (reappearance), iCPD -> iBOR iCR",
        [tp(0, L1=50), tp(56, L1=GONE), tp(112, L1=8), tp(168, L1=15)],
        ["iCR", "iUPD", "iCPD"],
        "iCR",
    ),
    (
        "reset then new PD is iUPD again, not iCPD",
        [tp(0, L1=50), tp(56, L1=65), tp(112, L1=52), tp(168, L1=66)],
        ["iUPD", "iSD", "iUPD"],
        "iSD",
    ),
    (
        "new lesion iUPD; new-lesion target sum +6 mm -> iCPD",
        [tp(0, L1=50), tp(56, L1=50, X1=nlt(12)), tp(112, L1=50, X1=nlt(18))],
        ["iUPD", "iCPD"],
        "iCPD",
    ),
    (
        "new-lesion target sum exactly +5 mm -> iCPD (5 mm or more)",
        [tp(0, L1=50), tp(56, L1=50, X1=nlt(12)), tp(112, L1=50, X1=nlt(17))],
        ["iUPD", "iCPD"],
        "iCPD",
    ),
    (
        "target sum exactly +5 mm since the iUPD -> iCPD",
        [tp(0, L1=50), tp(56, L1=65), tp(112, L1=70)],
        ["iUPD", "iCPD"],
        "iCPD",
    ),
    (
        "new lesion unchanged: stays iUPD (Table 2)",
        [tp(0, L1=50), tp(56, L1=50, X1=nlt(12)), tp(112, L1=50, X1=nlt(14))],
        ["iUPD", "iUPD"],
        "iUPD",
    ),
    (
        "new lesion gone: bar reset",
        [tp(0, L1=50), tp(56, L1=50, X1=nlt(12)), tp(112, L1=45, X1=nlt(0, "disappeared"))],
        ["iUPD", "iSD"],
        "iSD",
    ),
    (
        "target iUPD; a new lesion at the next assessment -> iCPD",
        [tp(0, L1=50), tp(56, L1=65), tp(112, L1=65, X1=new())],
        ["iUPD", "iCPD"],
        "iCPD",
    ),
    (
        "non-target iUPD; further non-target growth -> iCPD",
        [
            tp(0, L1=50, T1=nt()),
            tp(56, L1=50, T1=nt("progression")),
            tp(112, L1=50, T1=nt("progression")),
        ],
        ["iUPD", "iCPD"],
        "iCPD",
    ),
    (
        "non-target iUPD; no further growth -> stays iUPD",
        [
            tp(0, L1=50, T1=nt()),
            tp(56, L1=50, T1=nt("progression")),
            tp(112, L1=50, T1=nt("present")),
        ],
        ["iUPD", "iUPD"],
        "iUPD",
    ),
    (
        "new-lesion non-target progression -> iCPD",
        [tp(0, L1=50), tp(56, L1=50, X2=nlnt()), tp(112, L1=50, X2=nlnt("progression"))],
        ["iUPD", "iCPD"],
        "iCPD",
    ),
    (
        "scenario B: new lesion at SD, then targets reach PR -> iPR",
        [tp(0, L1=100), tp(56, L1=80, X1=nlt(12)), tp(112, L1=60, X1=nlt(12))],
        ["iUPD", "iPR"],
        "iPR",
    ),
    (
        "scenario F: PR, then new lesion, no change -> iUPD",
        [tp(0, L1=100), tp(56, L1=60), tp(112, L1=60, X1=nlt(12)), tp(168, L1=60, X1=nlt(12))],
        ["iPR", "iUPD", "iUPD"],
        "iPR",
    ),
    (
        "growth < 4 weeks after iUPD does not confirm",
        [tp(0, L1=50), tp(56, L1=65), tp(70, L1=75)],
        ["iUPD", "iUPD"],
        "iUPD",
    ),
    (
        "another new lesion < 4 weeks after iUPD confirms",
        [tp(0, L1=50), tp(56, L1=50, X1=new()), tp(70, L1=50, X1=new(), X2=new())],
        ["iUPD", "iCPD"],
        "iCPD",
    ),
]


@pytest.mark.parametrize(("name", "tps_", "expected", "ibor"), CASES, ids=[c[0] for c in CASES])
def test_irecist(name, tps_, expected, ibor):
    got, p, _ = run(*tps_)
    assert got == expected
    assert p["ibest_overall_response"] == ibor


def test_irecist_dates_and_new_lesion_sum():
    got, p, res = run(tp(0, L1=50), tp(56, L1=65, X1=nlt(12)), tp(112, L1=72, X1=nlt(12)))
    assert got == ["iUPD", "iCPD"]
    assert str(p["iupd_date"])[:10] == "2024-02-26" and str(p["icpd_date"])[:10] == "2024-04-22"
    assert str(p["iprogression_date"])[:10] == "2024-02-26"  # the confirmed iUPD
    assert (p["ipfs_days"], p["ipfs_event"]) == (56, 1)
    assert res.timepoints["inew_lesion_sum_mm"].tolist()[1:] == [12, 12]
    assert res.timepoints["ireason"].iat[2] == "iCPD: target sum +5 mm or more since the iUPD"
    # RECIST 1.1 on the same data: PD at the first follow-up
    assert res.patients.iloc[0]["best_overall_response"] == "PD"


def test_new_lesion_target_kinds_in_the_format():
    rows = [
        Measurement("P1", "baseline", "2024-01-01", "L1", "target", "liver", long_axis_mm=50),
        Measurement("P1", "fu", "2024-03-01", "L1", "target", "liver", long_axis_mm=50),
        Measurement("P1", "fu", "2024-03-01", "X1", "new_target", "lung", long_axis_mm=8),
    ]
    res = evaluate(rows, IR)
    assert res.timepoints["overall_response"].tolist()[1:] == ["PD"]  # RECIST: a new lesion
    assert "new_target_size" in set(res.messages["rule"])  # < 10 mm: not a new-lesion target
