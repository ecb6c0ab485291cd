"""Publication figures: Kaplan–Meier curves per predictor and a forest plot of Cox HRs.

matplotlib with the Agg backend (no display needed); figures are returned as
bytes so the pipeline can write them atomically.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

_COLORS = ("#1b6ca8", "#e08a00", "#b8322a", "#3c8d40", "#7a4fa0", "#6b6b6b")
_ANALYSIS_STYLE = {
    "naive": ("#6b6b6b", "o"),
    "landmark": ("#1b6ca8", "s"),
    "time_varying": ("#b8322a", "D"),
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _fmt_median(m: float, lo: float, hi: float) -> str:
    def f(v: float) -> str:
        return "NR" if not np.isfinite(v) else f"{v:.1f}"

    return f"{f(m)} ({f(lo)}–{f(hi)})"


def km_figure(
    time: pd.Series,
    event: pd.Series,
    groups: pd.Series,
    order: tuple[str, ...],
    *,
    title: str,
    xlabel: str,
    origin_note: str,
    logrank_p: float,
    medians: dict[str, tuple[float, float, float]],
):
    """Kaplan–Meier curves with 95 % bands, censor marks and an at-risk table.

    Parameters
    ----------
    time, event, groups : pandas.Series
        Months, 0/1 and group label per patient (NaN groups left out).
    order : tuple of str
        Groups in legend order.
    title, xlabel, origin_note : str
        Texts; ``origin_note`` states the time origin (and the landmark).
    logrank_p : float
    medians : dict
        Group -> (median, CI low, CI high) in months.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    from lifelines import KaplanMeierFitter
    from lifelines.plotting import add_at_risk_counts

    n_groups = max(1, sum(bool((groups == lv).any()) for lv in order))
    fig, ax = plt.subplots(figsize=(8, 3.7 + 0.55 * n_groups), dpi=150)
    fitters, names = [], []
    ok = groups.notna()
    for i, lv in enumerate(order):
        sel = ok & (groups == lv)
        if not sel.any():
            continue
        color = _COLORS[i % len(_COLORS)]
        median = f", median {_fmt_median(*medians[lv])}" if lv in medians else ""
        kmf = KaplanMeierFitter(label=f"{lv} (n={int(sel.sum())}{median})")
        kmf.fit(time[sel].to_numpy(float), event[sel].to_numpy(bool))
        kmf.plot_survival_function(
            ax=ax,
            ci_show=True,
            ci_alpha=0.15,
            show_censors=True,
            color=color,
            censor_styles={"marker": "|", "ms": 6, "mew": 1},
        )
        fitters.append(kmf)
        names.append(lv)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_ylabel("Survival probability")
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=12, loc="left")
    ax.grid(alpha=0.25)
    p_text = _fmt_p(logrank_p)
    ax.text(
        0.02,
        0.03,
        f"log-rank p {p_text}" if p_text.startswith("<") else f"log-rank p = {p_text}",
        transform=ax.transAxes,
        ha="left",
        va="bottom",
        fontsize=8.5,
        bbox={"boxstyle": "round", "fc": "white", "ec": "#cccccc"},
    )
    if fitters:
        ax.legend(
            loc="upper right",
            fontsize=7.5,
            frameon=True,
            framealpha=0.9,
            title="median, months (95 % CI)",
            title_fontsize=7.5,
        )
    fig.text(0.01, 0.005, origin_note, fontsize=7.5, color="#444444", ha="left", va="bottom")
    if fitters:
        add_at_risk_counts(
            *fitters, ax=ax, labels=names, rows_to_show=["At risk", "Censored", "Events"]
        )
    fig.tight_layout(rect=(0, 0.025, 1, 1))
    return fig


def forest_figure(cox: pd.DataFrame, *, title: str):
    """Forest plot of hazard ratios (95 % CI), one marker per analysis.

    Parameters
    ----------
    cox : pandas.DataFrame
        Rows of cox.csv for one endpoint.
    title : str
    """
    plt = _pyplot()
    covs = list(dict.fromkeys(cox["covariate"]))
    analyses = [a for a in _ANALYSIS_STYLE if (cox["analysis"] == a).any()]
    fig, ax = plt.subplots(
        figsize=(8, 1.2 + 0.55 * max(len(covs), 1) * max(len(analyses), 1) / 2), dpi=150
    )
    step = 0.8 / max(len(analyses), 1)
    for j, a in enumerate(analyses):
        color, marker = _ANALYSIS_STYLE[a]
        sub = cox[cox["analysis"] == a].set_index("covariate")
        ys, hr, lo, hi = [], [], [], []
        for i, c in enumerate(covs):
            if c in sub.index and np.isfinite(sub.loc[c, "hr"]):
                ys.append(len(covs) - 1 - i + 0.4 - (j + 0.5) * step)
                hr.append(sub.loc[c, "hr"])
                lo.append(sub.loc[c, "ci_low"])
                hi.append(sub.loc[c, "ci_high"])
        if ys:
            hr_a, lo_a, hi_a = np.array(hr), np.array(lo), np.array(hi)
            ax.errorbar(
                hr_a,
                ys,
                xerr=[hr_a - lo_a, hi_a - hr_a],
                fmt=marker,
                color=color,
                ms=5,
                capsize=2,
                lw=1.2,
                label=a.replace("_", "-"),
            )
    ax.axvline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xscale("log")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    lo_x, hi_x = ax.get_xlim()
    ticks = [v * 10.0**k for k in range(-4, 4) for v in (1, 2, 5)]
    ax.xaxis.set_major_locator(FixedLocator([v for v in ticks if lo_x <= v <= hi_x]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(range(len(covs)))
    ax.set_yticklabels(list(reversed(covs)), fontsize=8)
    ax.set_ylim(-0.6, len(covs) - 0.4)
    ax.set_xlabel("Hazard ratio (95 % CI, log scale)")
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(alpha=0.25, axis="x")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def render(fig, formats: tuple[str, ...] | str) -> dict[str, bytes] | bytes:
    """Render a figure to each format (PNG, SVG, PDF) and close it.

    Returns the bytes for a single format given as a string, else a dict by format.
    """
    plt = _pyplot()
    out = {}
    for fmt in (formats,) if isinstance(formats, str) else formats:
        buf = io.BytesIO()
        meta = {"Date": None} if fmt == "svg" else None
        fig.savefig(buf, format=fmt, metadata=meta)
        out[fmt] = buf.getvalue()
    plt.close(fig)
    return out[formats] if isinstance(formats, str) else out


# --------------------------------------------------------------------------- rendering in parallel


def render_spec(kind: str, kwargs: dict, formats: tuple[str, ...]) -> dict[str, bytes]:
    """Build one figure (``km`` or ``forest``) and render it: the unit of a render process."""
    fig = km_figure(**kwargs) if kind == "km" else forest_figure(**kwargs)
    return render(fig, formats)


def _warm() -> None:
    """Import what rendering needs (in the fork server, once for every worker)."""
    _pyplot()
    import lifelines.plotting  # noqa: F401


class FigureRenderer:
    """Render figures in worker processes while the caller goes on computing.

    The workers are forked when the renderer is made, after this process imported
    matplotlib and lifelines, so they start with nothing to import. Forked, not spawned: a
    spawned worker re-imports the caller's main module, which breaks scripts without a
    ``__main__`` guard. Where ``fork`` does not exist, with one CPU, or with
    ``processes=0``, figures render in this process. Use as a context manager;
    :meth:`results` returns ``{name: {format: bytes}}``.
    """

    def __init__(self, formats: tuple[str, ...], processes: int | None = None) -> None:
        import multiprocessing as mp
        import os

        self.formats = tuple(formats)
        if processes is None:
            cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(1)
            processes = min(len(cpus), 4)
        if "fork" not in mp.get_all_start_methods():
            processes = 0
        self._pool = None
        self._futures: dict[str, object] = {}
        self._done: dict[str, dict[str, bytes]] = {}
        if processes > 1:
            import warnings
            from concurrent.futures import ProcessPoolExecutor

            _warm()  # imported once here, inherited by every forked worker
            self._pool = ProcessPoolExecutor(processes, mp_context=mp.get_context("fork"))
            with warnings.catch_warnings():
                # Python >= 3.12 warns about forking with threads; the workers only draw.
                warnings.simplefilter("ignore", DeprecationWarning)
                for _ in range(processes):  # fork the workers now, ready when figures come
                    self._pool.submit(_warm)

    def submit(self, name: str, kind: str, **kwargs) -> None:
        """Queue figure ``name`` (``kind`` ``km`` or ``forest``, the figure's arguments)."""
        if self._pool is None:
            self._done[name] = render_spec(kind, kwargs, self.formats)
        else:
            self._futures[name] = self._pool.submit(render_spec, kind, kwargs, self.formats)

    def results(self) -> dict[str, dict[str, bytes]]:
        """Wait for every figure; in the order they were submitted."""
        for name, fut in self._futures.items():
            self._done[name] = fut.result()  # type: ignore[attr-defined]
        self._futures.clear()
        return dict(self._done)

    def __enter__(self) -> FigureRenderer:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
