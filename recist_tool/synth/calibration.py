"""How close the synthetic cohort comes to the founding study's four comparisons.

For each seed a cohort is generated and the paper's comparisons are made on it
exactly as ``recist-tool survival`` makes them (:mod:`recist_tool.survival.founding`),
with the imaging response taken from the generator's truth (``recist-tool batch``
recovers it exactly, which the tests check). The averages over seeds are what
``docs/synthetic_cohort.md`` reports and what the calibration targets:

* each naive median difference within ±20 % of the published one;
* each naive log-rank p below the published bound.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from recist_tool.synth.cohort import Cohort, CohortParams, generate_cohort

#: Relative tolerance of the median differences.
TOLERANCE = 0.20


def cohort_comparisons(cohort: Cohort, landmark_months: float = 3.0):
    """The paper's comparison groups of a generated cohort (no batch run needed)."""
    from recist_tool.survival.founding import COMPARISONS, TREATMENT_LANDMARK_MONTHS, ComparisonData

    clin = cohort.clinical.set_index("patient_id")
    t0 = pd.to_datetime(clin["treatment_date"])
    by_key = {c.key: c for c in COMPARISONS}

    def days(col: str) -> pd.Series:
        d = pd.to_datetime(clin[col].replace("", np.nan))
        return (d - t0).dt.days.astype(float)

    control = {"response": "response+stable", "stable": "response+stable"}
    control["progression"] = "progression"
    truth = cohort.truth.set_index("patient_id")
    imaging = truth["imaging_response"].replace("", np.nan)
    imaging = imaging.map(lambda x: x if pd.isna(x) else ("progression" if x == "PD" else
                                                          "response+stable"))  # fmt: skip
    tr = cohort.treatments.copy()
    tr["days"] = (pd.to_datetime(tr["date"]) - t0.loc[tr["patient_id"]].to_numpy()).dt.days
    second = tr.sort_values("days").groupby("patient_id")["days"].nth(1)
    second = pd.Series(second.to_numpy(), index=tr.loc[second.index, "patient_id"])
    n_tr = clin["n_treatments"].astype(int)
    return [
        ComparisonData(
            by_key["symptomatic"], clin["symptomatic_response"], days("symptomatic_response_date"),
            landmark_months,
        ),
        ComparisonData(
            by_key["biochemical"], clin["biochemical_response"].map(control),
            days("biochemical_response_date"), landmark_months,
        ),
        ComparisonData(by_key["imaging"], imaging, truth["first_ct_days"], landmark_months),
        ComparisonData(
            by_key["treatments"], n_tr.map(lambda k: "> 1" if k > 1 else "1").astype(object),
            second.reindex(clin.index), max(landmark_months, TREATMENT_LANDMARK_MONTHS),
        ),
    ]  # fmt: skip


def seed_rows(params: CohortParams, seeds: Iterable[int]) -> pd.DataFrame:
    """Naive and landmark results of every comparison for every seed."""
    from recist_tool.survival.founding import compare

    rows = []
    for seed in seeds:
        cohort = generate_cohort(params, seed=seed)
        clin = cohort.clinical.set_index("patient_id")
        time_days = (
            pd.to_datetime(clin["last_contact_date"]) - pd.to_datetime(clin["treatment_date"])
        ).dt.days.astype(float)
        event = clin["death"].astype(int)
        for data in cohort_comparisons(cohort):
            for r in compare(data, time_days, event, n_boot=0, time_varying=False):
                rows.append({"seed": seed, **r})
    return pd.DataFrame(rows)


def calibration_table(params: CohortParams | None = None, seeds: Iterable[int] = range(50)):
    """Averages over seeds of each naive comparison against its published target.

    Returns
    -------
    pandas.DataFrame
        One row per comparison: ``published_months``, ``mean_difference``,
        ``sd_difference``, ``within_20pct`` (the mean), ``p_bound``, ``mean_p``,
        ``median_p``, ``share_p_below``, ``p_ok`` (mean p below the bound),
        ``landmark_mean_difference``, ``landmark_mean_p``.
    """
    params = params or CohortParams()
    rows = seed_rows(params, seeds)
    out = []
    for key, sub in rows.groupby("comparison", sort=False):
        naive = sub[sub["analysis"] == "naive"]
        lm = sub[sub["analysis"] == "landmark"]
        pub = float(naive["published_difference_months"].iloc[0])
        bound = float(naive["published_p_below"].iloc[0])
        mean_d = float(naive["difference_months"].mean())
        out.append(
            {
                "comparison": key,
                "title": naive["title"].iloc[0],
                "published_months": pub,
                "mean_difference": mean_d,
                "sd_difference": float(naive["difference_months"].std()),
                "within_20pct": bool(abs(mean_d - pub) <= TOLERANCE * pub),
                "p_bound": bound,
                "mean_p": float(naive["logrank_p"].mean()),
                "median_p": float(naive["logrank_p"].median()),
                "share_p_below": float((naive["logrank_p"] < bound).mean()),
                "p_ok": bool(naive["logrank_p"].mean() < bound),
                "landmark_mean_difference": float(lm["difference_months"].mean()),
                "landmark_mean_p": float(lm["logrank_p"].mean()),
                "seeds": len(naive),
            }
        )
    return pd.DataFrame(out)
