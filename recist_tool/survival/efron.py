"""Cox partial likelihood with Efron ties, fast: counting-process fits and PH tests.

lifelines' ``CoxTimeVaryingFitter`` evaluates its gradient by filtering every
interval at every death time (O(deaths x intervals) per Newton step: 60 s for the
two time-varying models of a 100,000-patient cohort), and its Schoenfeld residuals
grow one array row by row (quadratic). The same quantities come from sorted risk sets
and cumulative sums in O(n log n):

- a (start, stop] interval is at risk at an event time t when start < t <= stop, so
  every risk-set sum is (sum over intervals with stop >= t) minus (sum over those with
  start >= t), two sums from the end of sorted orders, looked up with ``searchsorted``;
- Efron's correction for d tied events at t subtracts l/d of the tied events' sums
  (l = 0..d-1), vectorised over all events at once.

The fit is Newton–Raphson with step halving (as R's ``coxph``) from a given start.
lifelines stays the reference: the tests check coefficients, standard errors,
log-likelihood and the PH test statistics against it (and R) to 1e-6.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import chdtrc, ndtr, ndtri

#: z of a two-sided 95 % interval (lifelines' value).
# scipy.stats' own kernels (norm.ppf, norm.sf, chi2.sf), without importing scipy.stats
# (~1 s): recist-tool batch imports this package for the endpoints' median rule.
_Z95 = float(ndtri(0.975))


@dataclass
class _RiskSets:
    """Sorted risk-set bookkeeping of counting-process data (independent of beta)."""

    x: np.ndarray  # centred covariates (n, p)
    by_start: np.ndarray  # row order by start
    by_stop: np.ndarray  # row order by stop
    n_started: np.ndarray  # per event time: rows with start < t
    n_stopped: np.ndarray  # per event time: rows with stop < t
    event_rows: np.ndarray
    event_time: np.ndarray  # per event row: index of its event time
    ties: np.ndarray  # events per event time
    term_time: np.ndarray  # Efron terms: event time of each term
    term_frac: np.ndarray  # l / d of each term


def _risk_sets(start: np.ndarray, stop: np.ndarray, event: np.ndarray, x: np.ndarray) -> _RiskSets:
    ev = np.flatnonzero(event)
    times, event_time = np.unique(stop[ev], return_inverse=True)
    by_start = np.argsort(start, kind="stable")
    by_stop = np.argsort(stop, kind="stable")
    n_started = np.searchsorted(start[by_start], times, side="left")
    n_stopped = np.searchsorted(stop[by_stop], times, side="left")
    ties = np.bincount(event_time, minlength=len(times))
    term_time = np.repeat(np.arange(len(times)), ties)
    first = np.repeat(np.cumsum(ties) - ties, ties)
    term_frac = (np.arange(len(term_time)) - first) / ties[term_time]
    return _RiskSets(
        x - x.mean(axis=0),
        by_start,
        by_stop,
        n_started,
        n_stopped,
        ev,
        event_time,
        ties,
        term_time,
        term_frac,
    )


def _tail(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Sums of ``values`` over ``order[k:]`` for every k (trailing zero), first axis.

    Summed from the end, so a late risk set is never the small difference of two large
    totals (no cancellation when early rows carry huge weights).
    """
    out = np.zeros((len(order) + 1, *values.shape[1:]))
    np.cumsum(values[order][::-1], axis=0, out=out[-2::-1])
    return out


def _efron(rs: _RiskSets, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Log partial likelihood, gradient and information matrix at ``beta``."""
    x = rs.x
    eta = x @ beta
    shift = float(eta.max()) if len(eta) else 0.0
    w = np.exp(eta - shift)
    wx = w[:, None] * x
    wxx = wx[:, :, None] * x[:, None, :]

    def risk(values: np.ndarray) -> np.ndarray:
        # At risk at t: stop >= t, less those with start >= t (not yet entered).
        not_entered = _tail(values, rs.by_start)[rs.n_started]
        return _tail(values, rs.by_stop)[rs.n_stopped] - not_entered

    s0, s1, s2 = risk(w), risk(wx), risk(wxx)
    n_t = len(rs.ties)
    er, et = rs.event_rows, rs.event_time
    d0 = np.bincount(et, weights=w[er], minlength=n_t)
    d1 = np.zeros((n_t, x.shape[1]))
    np.add.at(d1, et, wx[er])
    d2 = np.zeros((n_t, x.shape[1], x.shape[1]))
    np.add.at(d2, et, wxx[er])
    t, f = rs.term_time, rs.term_frac
    phi = s0[t] - f * d0[t]
    mean = (s1[t] - f[:, None] * d1[t]) / phi[:, None]
    second = (s2[t] - f[:, None, None] * d2[t]) / phi[:, None, None]
    loglik = float(eta[er].sum() - (np.log(phi) + shift).sum())
    grad = x[er].sum(axis=0) - mean.sum(axis=0)
    info = (second - mean[:, :, None] * mean[:, None, :]).sum(axis=0)
    return loglik, grad, info


@dataclass
class EfronFit:
    """A fitted Cox model (Efron ties) with lifelines-like attributes.

    Attributes
    ----------
    params_, standard_errors_ : pandas.Series
    variance_matrix_ : pandas.DataFrame
    log_likelihood_ : float
    summary : pandas.DataFrame
        lifelines' columns: ``coef``, ``exp(coef)``, ``se(coef)``, the 95 % limits,
        ``z``, ``p``.
    converged : bool
    iterations : int
    notes : list of str
    """

    params_: pd.Series
    standard_errors_: pd.Series
    variance_matrix_: pd.DataFrame
    log_likelihood_: float
    converged: bool
    iterations: int
    notes: list[str] = field(default_factory=list)
    #: Harrell's C (:func:`concordance`); NaN unless computed.
    concordance_index_: float = float("nan")
    #: p of the Wald test as ``CoxPHFitter`` computes it (chi-square of z², 1 df)
    #: rather than as ``CoxTimeVaryingFitter`` does (two-sided normal); the same
    #: value to rounding, and each model's p stays bit for bit its lifelines peer's.
    p_from_chi2: bool = False

    @property
    def summary(self) -> pd.DataFrame:
        b, se = self.params_, self.standard_errors_
        z = b / se
        p = chdtrc(1, z**2) if self.p_from_chi2 else 2 * ndtr(-np.abs(z))
        with np.errstate(over="ignore", divide="ignore"):  # separation: inf, reported
            return self._summary(b, se, z, p)

    def _summary(self, b, se, z, p) -> pd.DataFrame:
        out = pd.DataFrame(
            {
                "coef": b,
                "exp(coef)": np.exp(b),
                "se(coef)": se,
                "coef lower 95%": b - _Z95 * se,
                "coef upper 95%": b + _Z95 * se,
                "exp(coef) lower 95%": np.exp(b - _Z95 * se),
                "exp(coef) upper 95%": np.exp(b + _Z95 * se),
                "cmp to": 0.0,
                "z": z,
                "p": p,
                "-log2(p)": -np.log2(p),
            },
            index=b.index,
        )
        out.index.name = "covariate"
        return out


class ConvergenceFailure(ValueError):
    """The Newton–Raphson iterations broke down (singular information, non-finite values)."""


def fit_counting_process(
    start: np.ndarray,
    stop: np.ndarray,
    event: np.ndarray,
    x: pd.DataFrame,
    initial: np.ndarray | None = None,
    max_steps: int = 100,
    tol: float = 1e-12,
    ll_tol: float | None = None,
) -> EfronFit:
    """Fit a Cox model with Efron ties to (start, stop] intervals.

    Parameters
    ----------
    start, stop : array
        Interval limits (start < stop); an interval is at risk at t when start < t <= stop.
    event : array
        1 when the interval ends with the event.
    x : pandas.DataFrame
        Covariates, one row per interval.
    initial : array, optional
        Starting coefficients (e.g. of a simpler model).
    max_steps : int
    tol : float
        Convergence: the Newton step's norm or the relative change of the
        log-likelihood below ``tol``.
    ll_tol : float, optional
        The relative change of the log-likelihood that counts as converged, when it
        should differ from ``tol``.

    Raises
    ------
    ConvergenceFailure
        When the information matrix is singular or values are not finite.
    """
    names = [str(c) for c in x.columns]
    xv = x.to_numpy(dtype=np.float64)
    rs = _risk_sets(
        np.asarray(start, dtype=np.float64),
        np.asarray(stop, dtype=np.float64),
        np.asarray(event).astype(bool),
        xv,
    )
    beta = np.zeros(xv.shape[1]) if initial is None else np.array(initial, dtype=np.float64)
    ll_tol = tol if ll_tol is None else ll_tol
    ll, grad, info = _efron(rs, beta)
    converged, steps = False, 0
    while steps < max_steps:
        steps += 1
        try:
            delta = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError as exc:
            raise ConvergenceFailure(f"singular information matrix ({exc})") from None
        if not np.all(np.isfinite(delta)):
            raise ConvergenceFailure("non-finite Newton step (collinear covariates?)")
        new = beta + delta
        new_ll, new_grad, new_info = _efron(rs, new)
        halvings = 0
        while (
            not (np.isfinite(new_ll) and (new_ll >= ll or abs(new_ll - ll) <= tol * abs(ll)))
            and halvings < 30
        ):
            delta = delta / 2  # step halving, as R's coxph
            new = beta + delta
            new_ll, new_grad, new_info = _efron(rs, new)
            halvings += 1
        change = abs(new_ll - ll)
        beta, ll, grad, info = new, new_ll, new_grad, new_info
        if np.linalg.norm(delta) < tol or change <= ll_tol * max(abs(ll), 1.0):
            converged = True
            break
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError as exc:
        raise ConvergenceFailure(f"singular information matrix ({exc})") from None
    with np.errstate(invalid="ignore"):  # a negative variance: NaN, reported below
        se = np.sqrt(np.diag(cov))
    notes = []
    if not converged:
        notes.append(f"Newton–Raphson did not converge in {max_steps} steps")
    sd = xv.std(axis=0)
    # As R's coxph warns "coefficient may be infinite": huge per-SD effects or SEs.
    if np.any(np.abs(beta * sd) > 10) or np.any(~np.isfinite(se) | (se * sd > 50)):
        notes.append(
            "very large coefficient(s): the estimate may be infinite (complete separation?)"
        )
    return EfronFit(
        pd.Series(beta, index=names),
        pd.Series(se, index=names),
        pd.DataFrame(cov, index=names, columns=names),
        ll,
        converged,
        steps,
        notes,
    )


def fit_right_censored(
    time: np.ndarray, event: np.ndarray, x: pd.DataFrame, max_steps: int = 100
) -> EfronFit:
    """Fit a Cox model (Efron ties) to right-censored data: lifelines' ``CoxPHFitter``.

    Everyone is at risk from the start, so this is :func:`fit_counting_process` with
    intervals (-inf, time], iterated to the maximum (step norm below 1e-12 or a
    relative change of the log-likelihood below 1e-15, as lifelines with
    ``FIT_OPTIONS``), with Harrell's C (:func:`concordance`) and lifelines' p.
    Importing lifelines costs ~0.5 s and each of its fits ~40 ms, most of the work
    of a small cohort's analysis; the tests hold this fit to ``CoxPHFitter`` to 1e-6.

    Parameters
    ----------
    time : array
        Follow-up times.
    event : array
        1 = event, 0 = censored.
    x : pandas.DataFrame
        Covariates, one row per subject.
    max_steps : int

    Raises
    ------
    ConvergenceFailure
        When the information matrix is singular or values are not finite.
    """
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event).astype(bool)
    fit = fit_counting_process(
        np.full(len(t), -np.inf), t, e, x, max_steps=max_steps, tol=1e-12, ll_tol=1e-15
    )
    xv = x.to_numpy(dtype=np.float64)
    # One score per distinct covariate row: equal rows are tied exactly.
    rows, inverse = np.unique(xv, axis=0, return_inverse=True)
    score = np.exp((rows - xv.mean(axis=0)) @ fit.params_.to_numpy())[inverse.ravel()]
    fit.concordance_index_ = concordance(t, e, score)
    fit.p_from_chi2 = True
    return fit


def concordance(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C of a risk score: lifelines' ``concordance_index(time, -risk, event)``.

    A pair is comparable when the earlier time is an event (equal times: one event,
    one censored, the event counting as earlier); it is concordant when the earlier
    one has the higher risk, and counts 1/2 when the risks are equal. NaN without
    comparable pairs.

    Counted in O(n log² n) with numpy: events and censored subjects in time order,
    each event both a *point* (compared with later subjects) and a *query* (compared
    with earlier events; placed before the points of its own time, so events at one
    time are not compared with each other). A query's count over all earlier points
    is summed over the levels of a bottom-up merge: at block size ``s`` the queries
    of each right block are looked up among the sorted points of its left sibling.
    """
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event).astype(bool)
    _, rank = np.unique(np.asarray(risk, dtype=np.float64), return_inverse=True)
    rank = rank.ravel().astype(np.int64)
    n_ev = int(e.sum())
    # items: event points (time, 1), event queries (time, 0), censored queries (time, 2)
    it = np.concatenate([t[e], t[e], t[~e]])
    kind = np.concatenate([np.ones(n_ev), np.zeros(n_ev), np.full(int((~e).sum()), 2.0)])
    order = np.lexsort((kind, it))
    r = np.concatenate([rank[e], rank[e], rank[~e]])[order]
    point = (kind == 1)[order]
    query = ~point
    pairs = int((np.cumsum(point) - point)[query].sum())
    if pairs == 0:
        return float("nan")
    k = int(r.max()) + 1
    pos = np.arange(len(r), dtype=np.int64)
    higher = tied = 0
    s = 1
    while s < len(r):
        block = pos // (2 * s)
        right = (pos // s) % 2 == 1
        left_points = point & ~right
        keys = np.sort(block[left_points] * k + r[left_points])
        q = query & right
        base = block[q] * k
        end = np.searchsorted(keys, base + k, side="left")
        le = np.searchsorted(keys, base + r[q], side="right")
        lt = np.searchsorted(keys, base + r[q], side="left")
        higher += int((end - le).sum())  # earlier events with a higher risk: concordant
        tied += int((le - lt).sum())
        s *= 2
    return (higher + tied / 2) / pairs


def ph_test(model, data: pd.DataFrame, transform: str = "km") -> pd.DataFrame:
    """lifelines' proportional-hazards test of a fitted ``CoxPHFitter``, in O(n log n).

    The same statistic as ``lifelines.statistics.proportional_hazard_test`` (scaled
    Schoenfeld residuals with Efron ties, the pre-2019 approximation of R's
    ``cox.zph``), without its row-by-row residual loop.

    Parameters
    ----------
    model : lifelines.CoxPHFitter
        Fitted on ``data`` with duration column ``_time`` and event column ``_event``.
    data : pandas.DataFrame
    transform : {"km", "rank", "identity", "log"}

    Returns
    -------
    pandas.DataFrame
        ``covariate, statistic, df, p, transform``, sorted by covariate (as lifelines
        sorts its summary).
    """
    names = list(model.params_.index)
    t = data["_time"].to_numpy(dtype=np.float64)
    e = data["_event"].to_numpy().astype(bool)
    xv = data[names].to_numpy(dtype=np.float64)
    order = np.argsort(t, kind="stable")
    t, e, xv = t[order], e[order], xv[order]
    beta = model.params_.to_numpy(dtype=np.float64)
    eta = xv @ beta
    w = np.exp(eta - eta.max())
    wx = w[:, None] * xv
    times, first_at = np.unique(t, return_index=True)
    # Risk set at a time: every row with t_i >= time (sorted: a suffix).
    tail0 = np.cumsum(w[::-1])[::-1]
    tail1 = np.cumsum(wx[::-1], axis=0)[::-1]
    s0, s1 = tail0[first_at], tail1[first_at]
    ti = np.searchsorted(times, t)
    ev = np.flatnonzero(e)
    n_t = len(times)
    d = np.bincount(ti[ev], minlength=n_t)
    d0 = np.bincount(ti[ev], weights=w[ev], minlength=n_t)
    d1 = np.zeros((n_t, xv.shape[1]))
    np.add.at(d1, ti[ev], wx[ev])
    # Efron: the mean at a time averages the l/d-reduced risk sets, l = 0..d-1.
    has = np.flatnonzero(d)
    term = np.repeat(has, d[has])
    first = np.repeat(np.cumsum(d[has]) - d[has], d[has])
    frac = (np.arange(len(term)) - first) / d[term]
    contrib = (s1[term] - frac[:, None] * d1[term]) / ((s0[term] - frac * d0[term]) * d[term])[
        :, None
    ]
    wmean = np.zeros((n_t, xv.shape[1]))
    np.add.at(wmean, term, contrib)
    resid = xv[ev] - wmean[ti[ev]]
    n_deaths = len(ev)
    var = model.variance_matrix_.to_numpy(dtype=np.float64)
    scaled = n_deaths * resid @ var
    if transform == "km":
        at_risk = len(t) - first_at
        surv = np.cumprod(1.0 - d / at_risk)
        tt = 1.0 - surv[ti[ev]]
    elif transform == "rank":
        tt = np.cumsum(e)[ev].astype(float)
    elif transform == "identity":
        tt = t[ev]
    elif transform == "log":
        tt = np.log(t[ev])
    else:
        raise ValueError(f"unknown time transform {transform!r}")
    centred = tt - tt.mean()
    se2 = model.standard_errors_.to_numpy(dtype=np.float64) ** 2
    stat = (centred[:, None] * scaled).sum(axis=0) ** 2 / (n_deaths * se2 * (centred**2).sum())
    out = pd.DataFrame(
        {
            "covariate": [str(n) for n in names],
            "statistic": stat,
            "df": 1.0,
            "p": chdtrc(1, stat),
            "transform": transform,
        }
    )
    return out.sort_values("covariate", kind="stable", ignore_index=True)
