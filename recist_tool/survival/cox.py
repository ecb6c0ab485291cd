"""Cox models: naive (from time zero), landmark, and time-varying (Efron ties).

- naive: every predictor at its final value, time from time zero — what the
  founding study did, and biased for anything only survivors can reach.
- landmark: patients still alive and in follow-up at the landmark, time from the
  landmark, predictors as known at the landmark.
- time-varying: a counting-process Cox model on (start, stop] intervals (our own
  O(n log n) Efron fit, checked against lifelines' ``CoxTimeVaryingFitter``); a
  response switches on at its assessment date, the treatment count runs over time.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recist_tool.survival.groups import Predictor, design

DAYS_PER_MONTH = 30.4375


@dataclass
class CoxFit:
    """Result of one Cox model.

    Attributes
    ----------
    table : pandas.DataFrame
        ``covariate, hr, ci_low, ci_high, p`` (one row per design column).
    n, events : int
        Patients and events in the model.
    concordance : float
        Harrell's C (NaN for the time-varying model).
    model : object or None
        The fitted model (None when the fit failed): an
        :class:`~recist_tool.survival.efron.EfronFit`, or lifelines' ``CoxPHFitter``
        for a fixed-time model the fast fit leaves to lifelines (see :func:`fit_cox`);
        both have ``params_``, ``standard_errors_``, ``variance_matrix_``,
        ``log_likelihood_`` and ``summary``.
    data : pandas.DataFrame or None
        The training data.
    notes : list of str
    """

    table: pd.DataFrame
    n: int
    events: int
    concordance: float = float("nan")
    model: object | None = None
    data: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


# Tighter than lifelines' defaults so estimates agree with R's survival to ~1e-9.
FIT_OPTIONS = {"precision": 1e-12, "r_precision": 1e-15, "max_steps": 100}

_EMPTY = pd.DataFrame(columns=["covariate", "hr", "ci_low", "ci_high", "p"])


def design_matrix(predictors: dict[str, Predictor], values: dict[str, pd.Series]) -> pd.DataFrame:
    """Concatenate the design columns of every predictor."""
    return pd.concat([design(p, values[name]) for name, p in predictors.items()], axis=1)


def _drop_constant(x: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    const = [c for c in x.columns if x[c].nunique(dropna=True) < 2]
    if const:
        notes.append(f"left out (no variation): {', '.join(const)}")
    return x.drop(columns=const)


def _table(model) -> pd.DataFrame:
    s = model.summary
    return pd.DataFrame(
        {
            "covariate": [str(i) for i in s.index],
            "hr": s["exp(coef)"].to_numpy(float),
            "ci_low": s["exp(coef) lower 95%"].to_numpy(float),
            "ci_high": s["exp(coef) upper 95%"].to_numpy(float),
            "p": s["p"].to_numpy(float),
        }
    )


def _convergence_notes(caught: list) -> list[str]:
    """lifelines' convergence warnings (e.g. separation) as notes for the report."""
    from lifelines.exceptions import ConvergenceWarning

    out = []
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            text = " ".join(str(w.message).split())
            out.append(f"convergence warning (check for separation): {text[:200]}")
    return list(dict.fromkeys(out))


def fit_cox(time: pd.Series, event: pd.Series, x: pd.DataFrame) -> CoxFit:
    """Fit a Cox model (Efron ties) on complete cases.

    The fit is :func:`recist_tool.survival.efron.fit_right_censored` (numpy; the
    tests hold it to lifelines' ``CoxPHFitter`` to 1e-6, and R); lifelines fits the
    model instead when the data or the fast fit show a problem lifelines has words
    for — a column of very low variance, no convergence, a coefficient that may be
    infinite (separation), a singular information matrix — so such models keep
    lifelines' warnings in the notes.

    Parameters
    ----------
    time : pandas.Series
        Follow-up time (months).
    event : pandas.Series
        1 = event, 0 = censored.
    x : pandas.DataFrame
        Design columns (same index).
    """
    notes: list[str] = []
    data = x.copy()
    data["_time"] = time.astype(float)
    data["_event"] = event.astype(int)
    data = data.dropna()
    cols = _drop_constant(data.drop(columns=["_time", "_event"]), notes).columns
    data = data[[*cols, "_time", "_event"]]
    n, ev = len(data), int(data["_event"].sum())
    if not len(cols) or ev == 0:
        notes.append("no model: no covariate with variation or no event")
        return CoxFit(_EMPTY.copy(), n, ev, notes=notes)
    fast = _fit_fast(data, list(cols))
    if fast is not None:
        return CoxFit(_table(fast), n, ev, fast.concordance_index_, fast, data, notes)
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    cph = CoxPHFitter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cph.fit(data, duration_col="_time", event_col="_event", fit_options=FIT_OPTIONS)
        notes += _convergence_notes(caught)
    except (ConvergenceError, np.linalg.LinAlgError) as exc:
        notes.append(f"the Cox model did not converge: {str(exc).splitlines()[0]}")
        return CoxFit(_EMPTY.copy(), n, ev, notes=notes)
    return CoxFit(_table(cph), n, ev, float(cph.concordance_index_), cph, data, notes)


def _fit_fast(data: pd.DataFrame, cols: list[str]):
    """The numpy fit of :func:`fit_cox`, or None where lifelines should fit instead."""
    from recist_tool.survival.efron import ConvergenceFailure, fit_right_censored

    x = data[cols].astype(np.float64)
    if (x.var(axis=0) < 1e-4).any():  # lifelines warns "very low variance"
        return None
    try:
        fit = fit_right_censored(
            data["_time"].to_numpy(float),
            data["_event"].to_numpy(int),
            x,
            max_steps=FIT_OPTIONS["max_steps"],
        )
    except ConvergenceFailure:
        return None
    ok = (
        fit.converged
        and not fit.notes  # e.g. separation: lifelines' own words in the notes
        and abs(fit.log_likelihood_) >= 1e-4  # lifelines' separation heuristic
        and np.isfinite(fit.concordance_index_)
        and np.all(np.isfinite(fit.standard_errors_.to_numpy()))
    )
    return fit if ok else None


def long_format(
    time_days: pd.Series, event: pd.Series, predictors: dict[str, Predictor]
) -> pd.DataFrame:
    """Split each patient's follow-up at the days a predictor changes.

    Parameters
    ----------
    time_days, event : pandas.Series
        Follow-up (days from time zero) and event, indexed by patient_id.
    predictors : dict of Predictor

    Returns
    -------
    pandas.DataFrame
        ``_id, _start, _stop`` (months), ``_event`` and the design columns; a patient's
        event falls in their last interval.
    """
    ids = time_days.index
    exit_ = time_days.astype(float)
    changes = []
    for name, pred in predictors.items():
        cp = pred.change_points()
        cp = cp[cp["patient_id"].isin(ids)].copy()
        cp["pred"] = name
        changes.append(cp)
    cp_all = pd.concat(changes, ignore_index=True) if changes else pd.DataFrame()
    starts = pd.DataFrame({"patient_id": ids, "days": 0.0})
    if len(cp_all):
        cp_all["days"] = cp_all["days"].astype(float)
        cp_all = cp_all[cp_all["days"].to_numpy() < exit_.loc[cp_all["patient_id"]].to_numpy()]
        starts = pd.concat([starts, cp_all[["patient_id", "days"]]], ignore_index=True)
    starts = starts.drop_duplicates().sort_values(["patient_id", "days"], ignore_index=True)
    nxt = starts.groupby("patient_id")["days"].shift(-1)
    last = nxt.isna()
    stop = nxt.where(~last, exit_.loc[starts["patient_id"]].to_numpy())
    long = pd.DataFrame(
        {
            "_id": starts["patient_id"].to_numpy(),
            "_start": starts["days"].to_numpy(float),
            "_stop": stop.to_numpy(float),
            "_event": np.where(last, event.loc[starts["patient_id"]].to_numpy(), 0),
        }
    )
    values: dict[str, pd.Series] = {}
    order = long.sort_values("_start").index
    for name, pred in predictors.items():
        init = pred.at(0).reindex(ids)
        v = pd.Series(init.loc[long["_id"]].to_numpy(), index=long.index, dtype=object)
        cp = cp_all[cp_all["pred"] == name] if len(cp_all) else cp_all
        if len(cp):
            # the same key dtypes on both sides (pandas 3 refuses object vs str ids
            # and int vs float times in merge_asof)
            left = long.loc[order, ["_id", "_start"]].reset_index()
            left["_id"] = left["_id"].astype(str)
            left["_start"] = left["_start"].astype("float64")
            right = cp.sort_values("days")[["patient_id", "days", "value"]].copy()
            right["patient_id"] = right["patient_id"].astype(str)
            right["days"] = right["days"].astype("float64")
            m = pd.merge_asof(
                left,
                right,
                left_on="_start",
                right_on="days",
                left_by="_id",
                right_by="patient_id",
                direction="backward",
            ).set_index("index")
            found = m["value"].notna()
            v.loc[m.index[found]] = m.loc[found, "value"].to_numpy()
        if pred.kind != "categorical":
            v = v.astype(float)
        values[name] = v
    x = design_matrix(predictors, values)
    out = pd.concat([long, x], axis=1)
    out["_start"] /= DAYS_PER_MONTH
    out["_stop"] /= DAYS_PER_MONTH
    return out


def fit_time_varying(long: pd.DataFrame, start: pd.Series | None = None) -> CoxFit:
    """Fit the time-varying Cox model (Efron ties) on :func:`long_format` rows.

    The fit is :func:`recist_tool.survival.efron.fit_counting_process` (sorted risk
    sets and cumulative sums, O(n log n)); lifelines' ``CoxTimeVaryingFitter`` gives
    the same estimates (the tests hold both, and R, to 1e-6) but takes minutes on a
    cohort of 100,000. ``start`` (coefficients by covariate name, e.g. of the naive
    model) is the Newton–Raphson starting point: fewer iterations, same maximum.
    """
    from recist_tool.survival.efron import ConvergenceFailure, fit_counting_process

    notes: list[str] = []
    data = long.dropna()
    data = data[data["_stop"] > data["_start"]]
    covs = [c for c in data.columns if not c.startswith("_")]
    cols = _drop_constant(data[covs], notes).columns
    data = data[["_id", "_start", "_stop", "_event", *cols]]
    n, ev = int(data["_id"].nunique()), int(data["_event"].sum())
    if not len(cols) or ev == 0:
        notes.append("no model: no covariate with variation or no event")
        return CoxFit(_EMPTY.copy(), n, ev, notes=notes)
    init = None
    if start is not None:
        init = np.array([float(start.get(c, 0.0)) for c in cols])
        init = init if np.all(np.isfinite(init)) and np.all(np.abs(init) < 10) else None
    try:
        fit = fit_counting_process(
            data["_start"].to_numpy(float),
            data["_stop"].to_numpy(float),
            data["_event"].to_numpy(int),
            data[list(cols)],
            initial=init,
            max_steps=FIT_OPTIONS["max_steps"],
        )
    except ConvergenceFailure as exc:
        notes.append(f"the time-varying Cox model did not converge: {exc}")
        return CoxFit(_EMPTY.copy(), n, ev, notes=notes)
    notes += [f"convergence warning (check for separation): {m}" for m in fit.notes]
    return CoxFit(_table(fit), n, ev, float("nan"), fit, data, notes)
