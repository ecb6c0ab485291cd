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

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recist_tool.response.settings import ResponseSettings
from recist_tool.survival.km import KaplanMeier

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


#: Endpoints estimated with Kaplan-Meier: (name, days column, event column).
_KM_ENDPOINTS = (
    ("DoR", "dor_days", "dor_event"),
    ("TTR", "ttr_days", "ttr_event"),
    ("PFS", "pfs_days", "pfs_event"),
)


@dataclass
class TimeCounts:
    """Subjects of one time-to-event endpoint as counts per distinct time (days):
    ``events`` and ``leaving`` (events and censorings) at each of the sorted ``days``."""

    days: np.ndarray = field(default_factory=lambda: np.zeros(0))
    events: np.ndarray = field(default_factory=lambda: np.zeros(0))
    leaving: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def of(cls, days: np.ndarray, event: np.ndarray) -> TimeCounts:
        t, inverse = np.unique(np.asarray(days, float), return_inverse=True)
        events = np.bincount(
            inverse, weights=(np.asarray(event) != 0).astype(float), minlength=len(t)
        )
        return cls(t, events, np.bincount(inverse, minlength=len(t)).astype(float))

    def __add__(self, other: TimeCounts) -> TimeCounts:
        t, inverse = np.unique(np.concatenate([self.days, other.days]), return_inverse=True)

        def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return np.bincount(inverse, weights=np.concatenate([a, b]), minlength=len(t))

        return TimeCounts(t, add(self.events, other.events), add(self.leaving, other.leaving))


@dataclass
class EndpointCounts:
    """What the cohort endpoints need of the patients, summed over any split of them.

    Counts of evaluated patients, responders (ORR), disease control (DCR) and clinical
    benefit (CBR), and per time-to-event endpoint the events and censorings per
    distinct day (:class:`TimeCounts`). Its size follows the number of distinct days,
    not of patients: ``recist-tool batch`` adds the counts of each chunk of patients
    (``a + b``) and computes the endpoints once, the same numbers as from the whole
    cohort's table (Kaplan-Meier needs only these counts).
    """

    n: int = 0
    orr: int = 0
    dcr: int = 0
    cbr: int = 0
    times: dict[str, TimeCounts] = field(default_factory=dict)

    @classmethod
    def of(cls, patients: pd.DataFrame) -> EndpointCounts:
        """The counts of a per patient table (:attr:`Evaluation.patients` or patients.csv)."""
        bor = patients["best_overall_response"].fillna("").astype(str)
        evaluated = (bor != "").to_numpy()
        p = patients[evaluated]
        bor = bor[evaluated]
        cb = pd.to_numeric(p["clinical_benefit"], errors="coerce").fillna(0).to_numpy()
        times = {}
        for name, days_col, event_col in _KM_ENDPOINTS:
            days = pd.to_numeric(p[days_col], errors="coerce")
            event = pd.to_numeric(p[event_col], errors="coerce")
            ok = (days.notna() & event.notna()).to_numpy()
            times[name] = TimeCounts.of(
                days.to_numpy(float, na_value=np.nan)[ok],
                event.to_numpy(float, na_value=np.nan)[ok],
            )
        return cls(
            n=int(evaluated.sum()),
            orr=int(bor.isin(["CR", "PR"]).sum()),
            dcr=int(bor.isin(["CR", "PR", "SD", "NON-CR/NON-PD"]).sum()),
            cbr=int((cb == 1).sum()),
            times=times,
        )

    def __add__(self, other: EndpointCounts) -> EndpointCounts:
        names = [n for n, _, _ in _KM_ENDPOINTS]
        return EndpointCounts(
            self.n + other.n,
            self.orr + other.orr,
            self.dcr + other.dcr,
            self.cbr + other.cbr,
            {k: self.times.get(k, TimeCounts()) + other.times.get(k, TimeCounts()) for k in names},
        )

    def table(self, settings: ResponseSettings | None = None) -> pd.DataFrame:
        """The endpoints (see :func:`trial_endpoints`)."""
        return _endpoint_table(self, settings or ResponseSettings())


def _km(counts: TimeCounts) -> tuple[float, float, float]:
    """KM median and 95 % CI in months (NaN when not reached)."""
    from recist_tool.survival.km import median_with_ci

    if not counts.leaving.sum():
        return float("nan"), float("nan"), float("nan")
    km = KaplanMeier.from_counts(counts.days / DAYS_PER_MONTH, counts.events, counts.leaving)
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
    return EndpointCounts.of(patients).table(settings)


def _endpoint_table(c: EndpointCounts, settings: ResponseSettings) -> pd.DataFrame:
    n = c.n
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

    rate("ORR", f"{conf}best overall response CR or PR", c.orr)
    rate("DCR", f"{conf}best overall response CR, PR, SD or NON-CR/NON-PD", c.dcr)
    rate(
        "CBR",
        f"CR or PR, or SD/NON-CR/NON-PD at >= {settings.cbr_min_days} days "
        "(24 weeks) after the reference date",
        c.cbr,
    )

    def km_row(name, definition, censoring):
        counts = c.times.get(name, TimeCounts())
        med, low, high = _km(counts)
        rows.append(
            (
                name,
                definition,
                int(counts.leaving.sum()),
                int(counts.events.sum()),
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
        f"as PFS: {missed}; otherwise at the last adequate assessment",
    )
    km_row(
        "TTR",
        f"from the reference date to the first {conf}CR/PR",
        "non-responders censored at their PFS end (event or last adequate assessment)",
    )
    km_row(
        "PFS",
        "from the reference date to progression or death",
        f"{missed}; otherwise at the last adequate assessment",
    )
    out = pd.DataFrame(rows, columns=list(ENDPOINT_COLUMNS))
    # displayed precision: proportions 4 decimals, months 2
    prop = out["unit"] == "proportion"
    for col in ("estimate", "ci_low", "ci_high"):
        out[col] = np.where(prop, out[col].round(4), out[col].round(2))
    return out
