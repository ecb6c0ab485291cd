"""Trial endpoints of a cohort from the engine's per-patient results (``endpoints.csv``).

- ORR (CR + PR), DCR (CR + PR + SD + NON-CR/NON-PD) and CBR (clinical benefit: CR,
  PR, or an SD-level response at least ``cbr_min_days`` after the reference date)
  with exact Clopper–Pearson 95 % confidence intervals (``scipy.stats.binomtest``).
  Denominator: every evaluated patient (best response NE included).
- Duration of response (responders), time to response (every evaluated patient;
  non-responders censored at their PFS end) and PFS: Kaplan–Meier median with its
  95 % confidence interval (lifelines, log-log band; R ``survival`` rules for the
  median), events and the censoring used.

The per-patient times and events are the engine's (``patients.csv``); nothing is
re-derived here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recist_tool.response.settings import ResponseSettings

ENDPOINT_COLUMNS = (
    "endpoint",
    "definition",
    "n",
    "events",
    "estimate",
    "ci_low",
    "ci_high",
    "unit",
    "method",
    "censoring",
)
DAYS_PER_MONTH = 30.4375


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) confidence interval of ``k/n`` (NaN when ``n`` is 0)."""
    from scipy.stats import binomtest

    if n == 0:
        return float("nan"), float("nan")
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def _km(days: np.ndarray, event: np.ndarray) -> tuple[float, float, float]:
    """KM median and 95 % CI in months (NaN when not reached)."""
    from recist_tool.survival.km import fit_km, median_with_ci

    if len(days) == 0:
        return float("nan"), float("nan"), float("nan")
    kmf = fit_km(np.asarray(days, float) / DAYS_PER_MONTH, np.asarray(event, bool))
    return median_with_ci(kmf)


def trial_endpoints(
    patients: pd.DataFrame, settings: ResponseSettings | None = None
) -> pd.DataFrame:
    """ORR, DCR, CBR, DoR, TTR and PFS of a cohort.

    Parameters
    ----------
    patients : pandas.DataFrame
        The engine's per patient table (:attr:`Evaluation.patients` or patients.csv).
    settings : ResponseSettings, optional
        The settings of the run (named in the definitions).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ENDPOINT_COLUMNS`; proportions as fractions, times in months.
    """
    settings = settings or ResponseSettings()
    bor = patients["best_overall_response"].fillna("").astype(str)
    evaluated = (bor != "").to_numpy()
    p = patients[evaluated]
    bor = bor[evaluated]
    n = int(evaluated.sum())
    conf = "confirmed " if settings.confirm else ""
    rows = []

    def rate(name: str, definition: str, k: int) -> None:
        low, high = clopper_pearson(k, n)
        rows.append(
            (
                name,
                definition,
                n,
                k,
                k / n if n else np.nan,
                low,
                high,
                "proportion",
                "exact Clopper-Pearson 95 % CI",
                "",
            )
        )

    rate("ORR", f"{conf}best overall response CR or PR", int(bor.isin(["CR", "PR"]).sum()))
    rate(
        "DCR",
        f"{conf}best overall response CR, PR, SD or NON-CR/NON-PD",
        int(bor.isin(["CR", "PR", "SD", "NON-CR/NON-PD"]).sum()),
    )
    cb = pd.to_numeric(p["clinical_benefit"], errors="coerce").fillna(0).to_numpy()
    rate(
        "CBR",
        f"CR or PR, or SD/NON-CR/NON-PD at >= {settings.cbr_min_days} days "
        "(24 weeks) after the reference date",
        int((cb == 1).sum()),
    )

    def km_row(name, definition, days, event, censoring):
        days = pd.to_numeric(days, errors="coerce")
        event = pd.to_numeric(event, errors="coerce")
        ok = (days.notna() & event.notna()).to_numpy()
        d, e = days.to_numpy(float)[ok], event.to_numpy(float)[ok]
        med, low, high = _km(d, e)
        rows.append(
            (
                name,
                definition,
                int(ok.sum()),
                int(e.sum()),
                med,
                low,
                high,
                "months",
                "Kaplan-Meier median, 95 % CI (log-log)",
                censoring,
            )
        )

    missed = (
        f"censored at the last adequate assessment when progression or death follows "
        f">= {settings.max_missed} missed assessments"
    )
    km_row(
        "DoR",
        f"from the first {conf}CR/PR to progression or death (responders)",
        p["dor_days"],
        p["dor_event"],
        f"as PFS: {missed}; otherwise at the last adequate assessment",
    )
    km_row(
        "TTR",
        f"from the reference date to the first {conf}CR/PR",
        p["ttr_days"],
        p["ttr_event"],
        "non-responders censored at their PFS end (event or last adequate assessment)",
    )
    km_row(
        "PFS",
        "from the reference date to progression or death",
        p["pfs_days"],
        p["pfs_event"],
        f"{missed}; otherwise at the last adequate assessment",
    )
    out = pd.DataFrame(rows, columns=list(ENDPOINT_COLUMNS))
    # displayed precision: proportions 4 decimals, months 2
    prop = out["unit"] == "proportion"
    for col in ("estimate", "ci_low", "ci_high"):
        out[col] = np.where(prop, out[col].round(4), out[col].round(2))
    return out
