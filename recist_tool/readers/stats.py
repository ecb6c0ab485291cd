"""Agreement statistics: Cohen's kappa (plain and linearly weighted), ICC(2,1), Bland–Altman.

- Kappa and its asymptotic standard error come from statsmodels
  (``statsmodels.stats.inter_rater.cohens_kappa``): the Fleiss, Cohen & Everitt
  (1969) variance, as in SAS PROC FREQ and R's ``vcd::Kappa``. The 95 % interval is
  kappa ± 1.96 SE, cut to [−1, 1] (as ``psych::cohen.kappa`` does). Cross-checked in
  the tests against R to 1e-6: ``psych::cohen.kappa`` (kappa, weighted kappa, the
  plain kappa's interval) and ``vcd::Kappa`` (the weighted kappa's interval: psych
  uses another variance formula there); and against SAS's published worked example.
- ICC(2,1) — two-way random effects, absolute agreement, single rater (Shrout &
  Fleiss 1979; McGraw & Wong's ICC(A,1)) — from the two-way ANOVA mean squares, with
  McGraw & Wong's (1996) F-based 95 % interval: the same definition as R's
  ``psych::ICC`` (``ICC2``), against which the tests check it to 1e-6. (statsmodels
  has no ICC; pingouin has one but is GPL-3.0 and pulls in scikit-learn and seaborn,
  for ten lines of arithmetic.)
- Bland–Altman (1986): bias (mean difference) with its t interval, 95 % limits of
  agreement bias ± 1.96 SD (SD with n − 1) and their approximate 95 % intervals
  ± t(n−1) · SD · sqrt(3/n) (Bland & Altman 1999).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Kappa:
    """Cohen's kappa of two readers' categories.

    Attributes
    ----------
    kappa, se, ci_low, ci_high : float
        Estimate, asymptotic standard error and 95 % interval (NaN when not
        estimable: fewer than two pairs, or a single category used by both readers).
    n : int
        Pairs used.
    observed : float
        Share of pairs in exact agreement.
    table : pandas.DataFrame
        The contingency table (rows reader A, columns reader B) over ``categories``.
    weighted : bool
    """

    kappa: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    observed: float
    table: pd.DataFrame
    weighted: bool


def cohen_kappa(
    a: pd.Series | np.ndarray,
    b: pd.Series | np.ndarray,
    categories: list[str],
    weighted: bool = False,
    level: float = 0.95,
) -> Kappa:
    """Cohen's kappa, or linearly weighted kappa over ``categories`` in their order.

    Linear weights: disagreement ``|i − j| / (k − 1)`` for categories ``i, j`` of the
    ``k`` given (Cicchetti–Allison, SAS's default weights), whether or not all are
    observed, so a cohort's value does not depend on which categories occur.

    Pairs whose value is not in ``categories`` are left out.
    """
    from scipy.stats import norm
    from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa

    a = pd.Series(np.asarray(a, dtype=object))
    b = pd.Series(np.asarray(b, dtype=object))
    keep = a.isin(categories) & b.isin(categories)
    a, b = a[keep], b[keep]
    table = pd.crosstab(
        pd.Categorical(a, categories=categories),
        pd.Categorical(b, categories=categories),
        dropna=False,
    ).reindex(index=categories, columns=categories, fill_value=0)
    table.index.name, table.columns.name = "reader_a", "reader_b"
    n = len(a)
    observed = float((a.to_numpy() == b.to_numpy()).mean()) if n else float("nan")
    nan = float("nan")
    counts = table.to_numpy(dtype=float)
    expected = (counts.sum(1) * counts.sum(0)).sum() / n**2 if n else 1.0
    if n < 2 or expected >= 1 - 1e-12:  # one category only: chance agreement is 1
        return Kappa(nan, nan, nan, nan, n, observed, table, weighted)
    with np.errstate(invalid="ignore"):  # a negative variance estimate: SE not estimable
        if weighted:
            res = sm_kappa(counts, weights=np.arange(len(categories)), wt="linear")
        else:
            res = sm_kappa(counts)
    kappa = float(res.kappa)
    var = float(res.var_kappa)
    se = float(np.sqrt(var)) if np.isfinite(var) and var >= 0 else nan
    z = float(norm.isf((1 - level) / 2))
    # Kappa lies in [-1, 1]: the asymptotic interval is cut there (as psych does).
    low, high = max(kappa - z * se, -1.0), min(kappa + z * se, 1.0)
    return Kappa(kappa, se, low, high, n, observed, table, weighted)


@dataclass
class ICC:
    """ICC(2,1) (two-way random, absolute agreement, single rater) with its interval."""

    icc: float
    ci_low: float
    ci_high: float
    n: int
    k: int
    f: float
    df1: int
    df2: int
    p: float


def icc_2_1(values: np.ndarray | pd.DataFrame, level: float = 0.95) -> ICC:
    """ICC(2,1) of an ``n × k`` table (subjects × raters, complete).

    Parameters
    ----------
    values : array-like, shape (n, k)
        One row per subject, one column per rater; rows with a missing value are
        left out.
    level : float
        Confidence level of the McGraw & Wong interval.
    """
    from scipy.stats import f as fdist

    y = np.asarray(values, dtype=float)
    y = y[np.isfinite(y).all(axis=1)]
    n, k = y.shape if y.ndim == 2 else (0, 0)
    nan = float("nan")
    if n < 2 or k < 2:
        return ICC(nan, nan, nan, n, k, nan, max(n - 1, 0), 0, nan)
    gm = y.mean()
    ssr = k * ((y.mean(axis=1) - gm) ** 2).sum()
    ssc = n * ((y.mean(axis=0) - gm) ** 2).sum()
    sse = ((y - gm) ** 2).sum() - ssr - ssc
    msr = ssr / (n - 1)
    msc = ssc / (k - 1)
    mse = sse / ((n - 1) * (k - 1))
    icc = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    df1, df2 = n - 1, (n - 1) * (k - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        fstat = msr / mse
        p = float(fdist.sf(fstat, df1, df2))
        # McGraw & Wong (1996), case 2A: Satterthwaite degrees of freedom.
        fj = msc / mse
        vn = df2 * (k * icc * fj + n * (1 + (k - 1) * icc) - k * icc) ** 2
        vd = df1 * k**2 * icc**2 * fj**2 + (n * (1 + (k - 1) * icc) - k * icc) ** 2
        v = vn / vd
        alpha = 1 - level
        f_u = fdist.ppf(1 - alpha / 2, n - 1, v)
        f_l = fdist.ppf(1 - alpha / 2, v, n - 1)
        low = n * (msr - f_u * mse) / (f_u * (k * msc + (k * n - k - n) * mse) + n * msr)
        high = n * (f_l * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_l * msr)
    return ICC(float(icc), float(low), float(high), n, k, float(fstat), df1, df2, p)


@dataclass
class BlandAltman:
    """Bland–Altman agreement of two readers' measurements (A − B)."""

    n: int
    bias: float
    sd: float
    bias_ci_low: float
    bias_ci_high: float
    loa_low: float
    loa_high: float
    loa_low_ci: tuple[float, float]
    loa_high_ci: tuple[float, float]


def bland_altman(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> BlandAltman:
    """Bias, limits of agreement (±1.96 SD) and their intervals for ``a − b``."""
    from scipy.stats import t as tdist

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    n = len(d)
    nan = float("nan")
    if n < 2:
        return BlandAltman(n, nan, nan, nan, nan, nan, nan, (nan, nan), (nan, nan))
    bias = float(d.mean())
    sd = float(d.std(ddof=1))
    tq = float(tdist.ppf(1 - (1 - level) / 2, n - 1))
    se_bias = sd / np.sqrt(n)
    lo, hi = bias - 1.96 * sd, bias + 1.96 * sd
    se_loa = sd * np.sqrt(3.0 / n)
    return BlandAltman(
        n,
        bias,
        sd,
        bias - tq * se_bias,
        bias + tq * se_bias,
        lo,
        hi,
        (lo - tq * se_loa, lo + tq * se_loa),
        (hi - tq * se_loa, hi + tq * se_loa),
    )


def bland_altman_figure(a, b, ba: BlandAltman, *, title: str, unit: str):
    """Bland–Altman plot: difference against mean, bias and limits of agreement."""
    from recist_tool.survival.plots import _pyplot

    plt = _pyplot()
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    mean, diff = (a[ok] + b[ok]) / 2, a[ok] - b[ok]
    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=150)
    ax.scatter(mean, diff, s=14, alpha=0.7, color="#1b6ca8", edgecolor="none")
    if ba.n >= 2:
        for y, style, label in (
            (ba.bias, "-", f"bias {ba.bias:+.2f} {unit}"),
            (ba.loa_high, "--", f"upper limit (bias + 1.96 SD) {ba.loa_high:+.2f} {unit}"),
            (ba.loa_low, "--", f"lower limit (bias − 1.96 SD) {ba.loa_low:+.2f} {unit}"),
        ):
            ax.axhline(y, color="#b8322a" if style == "--" else "black", ls=style, lw=1)
            ax.annotate(
                label,
                xy=(1.0, y),
                xycoords=("axes fraction", "data"),
                xytext=(-4, 3),
                textcoords="offset points",
                ha="right",
                fontsize=8,
            )
        ax.axhspan(*ba.loa_low_ci, color="#b8322a", alpha=0.08, lw=0)
        ax.axhspan(*ba.loa_high_ci, color="#b8322a", alpha=0.08, lw=0)
        ax.axhspan(ba.bias_ci_low, ba.bias_ci_high, color="black", alpha=0.08, lw=0)
    ax.axhline(0, color="#999999", lw=0.6)
    ax.set_xlabel(f"Mean of the two readers ({unit})")
    ax.set_ylabel(f"Difference, reader A − reader B ({unit})")
    ax.set_title(title, fontsize=11, loc="left")
    ax.text(
        0.01,
        0.01,
        f"n = {ba.n}; shaded: 95 % CIs of bias and limits",
        transform=ax.transAxes,
        fontsize=7.5,
        color="#444444",
    )
    ax.grid(alpha=0.25)
    fig.tight_layout()
    return fig
