"""The founding study side by side: its four overall-survival comparisons, as published.

Kane et al. (J Nucl Med 2018;59:1708) compared overall survival from the first
131I-MIBG treatment between

* symptomatic response: yes vs no (+30 months, p < 0.001);
* biochemical response: response + stable vs progression (+40 months, p < 0.03);
* imaging response at the ~3-month CT: response + stable vs progression
  (+32 months, p < 0.001);
* treatments: more than one vs one (+24 months, p < 0.05).

:func:`founding_table` repeats each comparison on the data at hand with the paper's
grouping — the number of patients and the Kaplan–Meier median OS per group, their
difference with a bootstrap confidence interval and the log-rank p — next to the
published figure, and then corrects it for guarantee-time bias in two ways: a
landmark analysis (patients alive at the landmark, groups as known then, time from
the landmark) and a time-varying Cox model (the better group switches on when it
becomes known; hazard ratio better vs worse).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recist_tool.survival.cox import DAYS_PER_MONTH, fit_time_varying, long_format
from recist_tool.survival.groups import GROUPINGS, TREATMENTS, Predictor
from recist_tool.survival.inputs import SurvivalInputs
from recist_tool.survival.km import KaplanMeier, median_with_ci
from recist_tool.survival.logrank import logrank

#: Landmark of the treatment comparison: retreatment comes months after the first
#: treatment, so a 3-month landmark sees no second treatment yet.
TREATMENT_LANDMARK_MONTHS = 12.0
SOURCE = "Kane et al., J Nucl Med 2018;59:1708"


@dataclass(frozen=True)
class Comparison:
    """One of the paper's comparisons and its published result."""

    key: str
    title: str
    better: str
    worse: str
    published_months: float
    published_p: float  # the bound the paper reports (p < bound)

    @property
    def published(self) -> str:
        """The published figure as text ("+30 months, p < 0.001")."""
        return f"+{self.published_months:g} months, p < {self.published_p:g}"


COMPARISONS = (
    Comparison("symptomatic", "Symptomatic response", "yes", "no", 30, 0.001),
    Comparison("biochemical", "Biochemical response", "response+stable", "progression", 40, 0.03),
    Comparison(
        "imaging", "Imaging response (~3-month CT)", "response+stable", "progression", 32, 0.001
    ),
    Comparison("treatments", "Number of treatments", "> 1", "1", 24, 0.05),
)

COLUMNS = [
    "comparison",
    "title",
    "analysis",
    "better",
    "worse",
    "n_better",
    "n_worse",
    "median_better_months",
    "median_worse_months",
    "difference_months",
    "difference_ci_low",
    "difference_ci_high",
    "logrank_p",
    "hr",
    "hr_ci_low",
    "hr_ci_high",
    "hr_p",
    "landmark_months",
    "published_difference_months",
    "published_p_below",
]


@dataclass
class ComparisonData:
    """Groups of one comparison: the final group and the day it became known."""

    comparison: Comparison
    groups: pd.Series  # better / worse / NaN, indexed by patient_id
    known_days: pd.Series  # day the group is known (NaN = at time zero)
    landmark_months: float


def comparison_data(inputs: SurvivalInputs, landmark_months: float = 3.0) -> list[ComparisonData]:
    """The paper's four groupings from the survival inputs (those available).

    Symptomatic and biochemical response come from clinical.csv
    (``symptomatic_response``, ``biochemical_response`` and their ``_date`` columns),
    the imaging response from patients.csv (first follow-up response), the number of
    treatments from treatments.csv (the second treatment's date) or clinical.csv.
    """
    index = inputs.clinical.index
    out = []
    covs = inputs.covariates
    control = GROUPINGS["control"][0]
    scale = {"response": "PR", "stable": "SD", "progression": "PD"}
    by_key = {c.key: c for c in COMPARISONS}

    def known(cov) -> pd.Series:
        kd = cov.known_days
        return kd.reindex(index) if kd is not None else pd.Series(np.nan, index=index)

    sym = covs.get("symptomatic_response")
    if sym is not None:
        v = sym.values.reindex(index).astype(object)
        low = v.map(lambda x: x if pd.isna(x) else str(x).strip().lower())
        g = low.where(low.isin(["yes", "no"]))
        out.append(ComparisonData(by_key["symptomatic"], g, known(sym), landmark_months))
    bio = covs.get("biochemical_response")
    if bio is not None:
        v = bio.values.reindex(index).astype(object)
        low = v.map(lambda x: x if pd.isna(x) else scale.get(str(x).strip().lower()))
        out.append(
            ComparisonData(by_key["biochemical"], low.map(control), known(bio), landmark_months)
        )
    if inputs.responses is not None:
        r = inputs.responses
        g = r["first_followup_response"].map(control).reindex(index)
        kd = r["first_followup_days"].reindex(index)
        out.append(ComparisonData(by_key["imaging"], g, kd, landmark_months))
    lm_t = max(landmark_months, TREATMENT_LANDMARK_MONTHS)
    if inputs.treatments is not None:
        ev = inputs.treatments.sort_values(["patient_id", "days"])
        count = ev.groupby("patient_id").size().reindex(index, fill_value=0)
        second = ev.groupby("patient_id")["days"].nth(1)
        second = pd.Series(second.to_numpy(), index=ev.loc[second.index, "patient_id"])
        g = pd.Series(np.where(count > 1, "> 1", "1"), index=index, dtype=object)
        g[count == 0] = np.nan
        kd = second.reindex(index)
        out.append(ComparisonData(by_key["treatments"], g, kd, lm_t))
    elif TREATMENTS in covs and covs[TREATMENTS].numeric:
        c = covs[TREATMENTS].values.reindex(index)
        g = pd.Series(np.where(c > 1, "> 1", "1"), index=index, dtype=object)
        g[c.isna() | (c < 1)] = np.nan
        # no dates: known at time zero (its bias stays in every analysis)
        out.append(ComparisonData(by_key["treatments"], g, pd.Series(np.nan, index=index), lm_t))
    return out


def km_median(time: np.ndarray, event: np.ndarray) -> float:
    """Kaplan–Meier median (R's rule: the first time the curve is below 0.5, the
    midpoint when it sits exactly at 0.5); NaN when not reached."""
    order = np.argsort(time, kind="stable")
    t, e = time[order], event[order]
    ut, first = np.unique(t, return_index=True)
    n_at = len(t) - first
    d = np.add.reduceat(e, first)
    surv = np.cumprod(1.0 - d / n_at)
    tol = np.sqrt(np.finfo(float).eps)
    below = np.flatnonzero(surv < 0.5 + tol)
    if not len(below):
        return float("nan")
    i = below[0]
    if abs(surv[i] - 0.5) < tol:
        later = np.flatnonzero(surv < surv[i] - tol)
        if len(later):
            return float((ut[i] + ut[later[0]]) / 2)
    return float(ut[i])


def _boot_medians(time: np.ndarray, event: np.ndarray, n_boot: int, rng) -> np.ndarray:
    """Kaplan–Meier medians of ``n_boot`` resamples (with replacement) at once.

    Each resample is a vector of multinomial counts over the observations; the KM
    curve of every resample is computed on the shared unique times (vectorised).
    The resamples are drawn and reduced a block of rows at a time (the same draws as
    one ``multinomial(..., size=n_boot)`` call), in integers: memory stays bounded by
    the block, and the sums are exact, so the curves are those of float sums.
    """
    order = np.argsort(time, kind="stable")
    t, ev = time[order], event[order] != 0
    ut, first = np.unique(t, return_index=True)
    n = len(t)
    pvals = np.full(n, 1.0 / n)
    # observations with the event, and where each unique time's events start among them
    ev_idx = np.flatnonzero(ev)
    ev_first = np.searchsorted(ev_idx, first)
    has_ev = np.add.reduceat(ev.astype(np.int64), first) > 0
    d = np.empty((n_boot, len(ut)), dtype=np.int64)
    leave = np.empty((n_boot, len(ut)), dtype=np.int64)
    block = max(1, min(n_boot, (1 << 21) // max(n, 1)))
    for lo in range(0, n_boot, block):
        hi = min(n_boot, lo + block)
        counts = rng.multinomial(n, pvals, size=hi - lo)
        leave[lo:hi] = np.add.reduceat(counts, first, axis=1)
        if len(ev_idx):
            ce = counts[:, ev_idx]
            # reduceat on the events alone; unique times without an event get 0
            part = np.add.reduceat(ce, np.minimum(ev_first, len(ev_idx) - 1), axis=1)
            d[lo:hi] = np.where(has_ev, part, 0)
        else:
            d[lo:hi] = 0
    n_at = leave[:, ::-1].cumsum(axis=1)[:, ::-1].astype(float)
    d = d.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(n_at > 0, 1.0 - d / n_at, 1.0)
    surv = np.cumprod(step, axis=1)
    tol = np.sqrt(np.finfo(float).eps)
    below = surv < 0.5 + tol
    reached = below.any(axis=1)
    i = np.argmax(below, axis=1)
    med = ut[i].astype(float)
    # R's rule: a curve sitting exactly at 0.5 gives the midpoint to its next drop
    at_half = reached & (np.abs(surv[np.arange(n_boot), i] - 0.5) < tol)
    for k in np.flatnonzero(at_half):
        later = np.flatnonzero(surv[k] < surv[k, i[k]] - tol)
        if len(later):
            med[k] = (ut[i[k]] + ut[later[0]]) / 2
    med[~reached] = np.nan
    return med


def bootstrap_difference(
    t_a: np.ndarray,
    e_a: np.ndarray,
    t_b: np.ndarray,
    e_b: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """95 % percentile bootstrap CI of median(a) − median(b), resampling each group.

    Resamples where a median is not reached are left out; NaN when fewer than half of
    them give a difference.
    """
    diffs = _boot_medians(t_a, e_a, n_boot, rng) - _boot_medians(t_b, e_b, n_boot, rng)
    ok = diffs[np.isfinite(diffs)]
    if len(ok) < n_boot / 2:
        return float("nan"), float("nan")
    lo, hi = np.percentile(ok, [2.5, 97.5])
    return float(lo), float(hi)


def _km_part(time, event, groups, c: Comparison, n_boot, rng) -> dict:
    """n, medians, difference (bootstrap CI) and log-rank p of better vs worse."""
    ok = groups.isin([c.better, c.worse])
    time, event, groups = time[ok], event[ok], groups[ok]
    row: dict = {}
    parts = {}
    for side, level in (("better", c.better), ("worse", c.worse)):
        m = (groups == level).to_numpy()
        t, e = time.to_numpy(float)[m], event.to_numpy(float)[m]
        parts[side] = (t, e)
        row[f"n_{side}"] = int(m.sum())
        if m.sum():
            med, _, _ = median_with_ci(KaplanMeier(t, e))
        else:
            med = float("nan")
        row[f"median_{side}_months"] = med
    row["difference_months"] = row["median_better_months"] - row["median_worse_months"]
    lo = hi = float("nan")
    if n_boot and row["n_better"] and row["n_worse"]:
        lo, hi = bootstrap_difference(*parts["better"], *parts["worse"], n_boot, rng)
    row["difference_ci_low"], row["difference_ci_high"] = lo, hi
    row["logrank_p"] = logrank(time, event, groups)["p"]
    return row


def compare(
    data: ComparisonData,
    time_days: pd.Series,
    event: pd.Series,
    n_boot: int = 1000,
    seed: int = 0,
    time_varying: bool = True,
) -> list[dict]:
    """Naive, landmark and time-varying rows of one comparison.

    Parameters
    ----------
    data : ComparisonData
    time_days, event : pandas.Series
        Follow-up (days from time zero) and death, indexed by patient_id.
    n_boot : int
        Bootstrap resamples of the median difference (0: no CI).
    seed : int
        Seed of the bootstrap.
    time_varying : bool
        Also fit the time-varying Cox model.
    """
    c = data.comparison
    rng = np.random.default_rng(seed)
    groups = data.groups.reindex(time_days.index)
    base = {
        "comparison": c.key,
        "title": c.title,
        "better": c.better,
        "worse": c.worse,
        "published_difference_months": c.published_months,
        "published_p_below": c.published_p,
    }
    nan4 = dict.fromkeys(("hr", "hr_ci_low", "hr_ci_high", "hr_p"), float("nan"))
    months = time_days.astype(float) / DAYS_PER_MONTH
    naive = {**base, "analysis": "naive", "landmark_months": float("nan"), **nan4}
    naive.update(_km_part(months, event, groups, c, n_boot, rng))
    rows = [naive]

    l_days = data.landmark_months * DAYS_PER_MONTH
    alive = time_days > l_days
    known = data.known_days.reindex(time_days.index)
    at_lm = groups.where(~(known > l_days), c.worse)  # not yet shown at the landmark
    lm = {**base, "analysis": "landmark", "landmark_months": data.landmark_months, **nan4}
    lm.update(
        _km_part(
            (time_days[alive] - l_days) / DAYS_PER_MONTH,
            event[alive],
            at_lm[alive],
            c,
            n_boot,
            rng,
        )
    )
    rows.append(lm)

    if time_varying:
        tv = {**base, "analysis": "time_varying", "landmark_months": float("nan")}
        for k in ("n_better", "n_worse", "median_better_months", "median_worse_months",
                  "difference_months", "difference_ci_low", "difference_ci_high",
                  "logrank_p"):  # fmt: skip
            tv[k] = float("nan")
        tv.update(nan4)
        ok = groups.isin([c.better, c.worse])
        if ok.any():
            pred = Predictor(c.key, "categorical", groups[ok], (c.better, c.worse), known[ok])
            fit = fit_time_varying(long_format(time_days[ok], event[ok], {c.key: pred}))
            if len(fit.table):
                r = fit.table.iloc[0]
                tv.update(hr=r["hr"], hr_ci_low=r["ci_low"], hr_ci_high=r["ci_high"], hr_p=r["p"])
            tv["n_better"] = int((groups[ok] == c.better).sum())
            tv["n_worse"] = int((groups[ok] == c.worse).sum())
        rows.append(tv)
    return rows


def founding_table(
    inputs: SurvivalInputs,
    landmark_months: float = 3.0,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """The paper's four OS comparisons on these data, with the published figures.

    Parameters
    ----------
    inputs : SurvivalInputs
    landmark_months : float
        Landmark of the response comparisons (the treatment comparison uses at least
        :data:`TREATMENT_LANDMARK_MONTHS`).
    n_boot : int
        Bootstrap resamples for the CI of each median difference.
    seed : int
        Seed of the bootstrap (the table is reproducible).

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`; three rows per comparison (naive, landmark, time_varying).
    """
    return start_founding_table(inputs, landmark_months, n_boot, seed)()


def start_founding_table(
    inputs: SurvivalInputs,
    landmark_months: float = 3.0,
    n_boot: int = 1000,
    seed: int = 0,
    executor=None,
):
    """Start :func:`founding_table`; returns a function that gives the table.

    With ``executor`` (a :class:`concurrent.futures.Executor`), the four comparisons
    (each with its own seed: the same table as in one process) are computed there
    while the caller goes on; without it, when the returned function is called.
    """
    time_days = inputs.clinical["os_days"].astype(float)
    event = inputs.clinical["death"].astype(int)
    jobs = [
        (data, time_days, event, n_boot, seed + k)
        for k, data in enumerate(comparison_data(inputs, landmark_months))
    ]
    if executor is None:
        return lambda: _founding_frame([compare(*job) for job in jobs])
    futures = [executor.submit(compare, *job) for job in jobs]
    return lambda: _founding_frame([f.result() for f in futures])


def _founding_frame(parts: list[list[dict]]) -> pd.DataFrame:
    return pd.DataFrame([r for rows in parts for r in rows], columns=COLUMNS)


def _num(v: float, signed: bool = False) -> str:
    if not np.isfinite(v):
        return "NR"
    return f"{v:+.1f}" if signed else f"{v:.1f}"


def _p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def difference_text(r) -> str:
    """``+29.4 (18.1 to 40.2)``: the median difference and its bootstrap CI."""
    d = _num(r["difference_months"], signed=True)
    if np.isfinite(r["difference_ci_low"]) and np.isfinite(r["difference_ci_high"]):
        return f"{d} ({r['difference_ci_low']:+.1f} to {r['difference_ci_high']:+.1f})"
    return d


def founding_text(table: pd.DataFrame) -> str:
    """The table for an 80-column terminal: per comparison, the paper's figure and the
    naive, landmark and time-varying results in aligned columns."""
    if table.empty:
        return ""
    lines = [
        "Founding study (Kane et al., J Nucl Med 2018) side by side: OS in months",
        f"  {'':<15}{'n':<9}{'median OS':<12}{'difference (95% CI)':<26}log-rank",
    ]
    for key in dict.fromkeys(table["comparison"]):
        sub = table[table["comparison"] == key]
        first = sub.iloc[0]
        lines.append(f"{first['title']}: {first['better']} vs {first['worse']}"[:79])
        lines.append(
            f"  {'published':<15}{'':<9}{'':<12}"
            f"{f'+{first.published_difference_months:g}':<26}"
            f"p < {first['published_p_below']:g}"
        )
        for _, r in sub.iterrows():
            if r["analysis"] == "time_varying":
                hr = "no model"
                if np.isfinite(r["hr"]):
                    hr = f"HR {r['hr']:.2f} ({r['hr_ci_low']:.2f}-{r['hr_ci_high']:.2f})"
                lines.append(f"  {'time-varying':<15}{'':<9}{'':<12}{hr:<26}{_p(r['hr_p'])}")
                continue
            label = "naive" if r["analysis"] == "naive" else f"landmark {r['landmark_months']:g} mo"
            n = f"{r['n_better']}/{r['n_worse']}"
            med = f"{_num(r['median_better_months'])}/{_num(r['median_worse_months'])}"
            lines.append(
                f"  {label:<15}{n:<9}{med:<12}{difference_text(r):<26}{_p(r['logrank_p'])}"
            )
    lines.append("  n, median OS: better/worse group; difference: better minus worse (bootstrap)")
    lines.append("  time-varying: Cox HR better vs worse, each patient's group from when known")
    return "\n".join(lines)
