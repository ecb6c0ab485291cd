"""Trial endpoints of a cohort from the engine's per-patient results (``endpoints.csv``).

- ORR (CR + PR), DCR (CR + PR + SD + NON-CR/NON-PD) and CBR (clinical benefit: CR,
  PR, or an SD-level response at least ``cbr_min_days`` after the reference date)
  with exact Clopper–Pearson 95 % confidence intervals (beta quantiles,
  ``scipy.special.betaincinv``: the same values as ``scipy.stats.binomtest``).
  Denominator: every evaluated patient (best response NE included).
- Duration of response (responders), time to response (every evaluated patient;
  non-responders censored at their PFS end) and PFS: Kaplan–Meier median with its
  95 % confidence interval (log-log band as lifelines and R's ``conf.type =
  "log-log"``; R ``survival`` rules for the median), events and the censoring used.
  The product-limit estimate is computed here in numpy because importing lifelines
  (and ``scipy.stats``) costs ~3 s of every batch run; a test checks it against
  lifelines.

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
    from scipy.special import betaincinv

    if n == 0:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    low = 0.0 if k == 0 else float(betaincinv(k, n - k + 1, a))
    high = 1.0 if k == n else float(betaincinv(k + 1, n - k, 1 - a))
    return low, high


class KaplanMeier:
    """Product-limit estimate with the log-log 95 % band (lifelines' formulas).

    Attributes ``survival_function_`` and ``confidence_interval_survival_function_``
    have lifelines' layout (time 0 first, then every distinct time), so
    :func:`recist_tool.survival.km.median_with_ci` applies R's median rules to it.
    """

    def __init__(self, time: np.ndarray, event: np.ndarray, alpha: float = 0.05) -> None:
        from scipy.special import ndtri

        time = np.asarray(time, dtype=float)
        event = np.asarray(event, dtype=bool)
        times, inverse = np.unique(time, return_inverse=True)
        deaths = np.bincount(inverse, weights=event.astype(float), minlength=len(times))
        leaving = np.bincount(inverse, minlength=len(times)).astype(float)
        at_risk = len(time) - np.concatenate([[0.0], np.cumsum(leaving)[:-1]])
        with np.errstate(divide="ignore", invalid="ignore"):
            surv = np.cumprod(1.0 - deaths / at_risk)
            greenwood = np.cumsum(deaths / (at_risk * (at_risk - deaths)))
            z = ndtri(1 - alpha / 2)
            v = np.log(surv)
            upper = np.exp(-np.exp(np.log(-v) + z * np.sqrt(greenwood) / v))
            lower = np.exp(-np.exp(np.log(-v) - z * np.sqrt(greenwood) / v))
        upper = np.where(surv == 0, 0.0, np.where(surv == 1, 1.0, upper))
        lower = np.where(surv == 0, 0.0, np.where(surv == 1, 1.0, lower))
        if len(times) == 0 or times[0] != 0:
            times = np.concatenate([[0.0], times])
            surv = np.concatenate([[1.0], surv])
            lower = np.concatenate([[1.0], lower])
            upper = np.concatenate([[1.0], upper])
        self.survival_function_ = pd.DataFrame({"KM": surv}, index=times)
        self.confidence_interval_survival_function_ = pd.DataFrame(
            {"lower": lower, "upper": upper}, index=times
        )


def _km(days: np.ndarray, event: np.ndarray) -> tuple[float, float, float]:
    """KM median and 95 % CI in months (NaN when not reached)."""
    from recist_tool.survival.km import median_with_ci

    if len(days) == 0:
        return float("nan"), float("nan"), float("nan")
    km = KaplanMeier(np.asarray(days, float) / DAYS_PER_MONTH, np.asarray(event, bool))
    return median_with_ci(km)


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
        d = days.to_numpy(float, na_value=np.nan)[ok]
        e = event.to_numpy(float, na_value=np.nan)[ok]
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
