"""Publication figures: Kaplan–Meier curves per predictor and a forest plot of Cox HRs.

matplotlib with the Agg backend (no display needed); figures are returned as
bytes so the pipeline can write them atomically.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

#: Resolution of the PNG figures (and the figure's dpi while any format is drawn).
DPI = 300


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


#: Words for endpoints and predictors in titles and labels.
ENDPOINT_WORDS = {"os": "Overall survival", "pfs": "Progression-free survival"}
PREDICTOR_WORDS = {
    "imaging_response": "imaging response at the first follow-up CT",
    "symptomatic_response": "symptomatic response",
    "biochemical_response": "biochemical response",
    "n_treatments": "number of treatments",
    "tgr": "tumour growth rate",
}
_STYLE = {
    "font.size": 9,
    "axes.titlesize": 10.5,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "svg.fonttype": "none",  # text stays text in SVG
    "pdf.fonttype": 42,  # and selectable TrueType in PDF (Type 42; journals refuse Type 3)
    # matplotlib (3.11) sizes a PDF's font subsets by ps.fonttype: at 42 each font is
    # embedded as one subset; at the default 3, characters past U+00FF (the en dash)
    # go into a second subset of the same font, each subset a fontTools pass.
    "ps.fonttype": 42,
    "svg.hashsalt": "recist-tool",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def predictor_words(name: str) -> str:
    """A predictor's name in words ("imaging_response" -> "imaging response ...")."""
    return PREDICTOR_WORDS.get(name, name.replace("_", " "))


def covariate_words(covariate: str) -> str:
    """A Cox covariate in words: "imaging_response: response vs progression" ->
    "Imaging response at the first follow-up CT: response vs progression"."""
    name, _, rest = covariate.partition(": ")
    words = predictor_words(name)
    if name == "n_treatments" and not rest:
        words += " (per treatment)"
    text = f"{words}: {rest}" if rest else words
    return text[:1].upper() + text[1:]


def _group_words(level: str) -> str:
    return str(level)[:1].upper() + str(level)[1:]


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
    ci: bool = True,
    ylabel: str = "Survival probability",
    group_names: dict[str, str] | None = None,
):
    """Kaplan–Meier curves for publication: legend above the plot (off the curves),
    a "Number at risk" table in the groups' colours under it, optional 95 % bands.

    Parameters
    ----------
    time, event, groups : pandas.Series
        Months, 0/1 and group label per patient (NaN groups left out).
    order : tuple of str
        Groups in legend order.
    title, xlabel : str
        Title and x-axis label, in words.
    origin_note : str
        The time origin (and the landmark) — printed under the title.
    logrank_p : float
        Shown only when there are two groups or more.
    medians : dict
        Group -> (median, CI low, CI high) in months.
    ci : bool
        Draw the 95 % confidence bands (log-log).
    ylabel : str
    group_names : dict, optional
        Words for group labels (e.g. ``"> 1"`` -> ``"More than one treatment"``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from recist_tool.survival.km import KaplanMeier

    names = group_names or {}

    def words(level) -> str:
        return names.get(str(level), _group_words(level))

    with matplotlib.rc_context(_STYLE):
        ok = groups.notna()
        present = [lv for lv in order if bool((ok & (groups == lv)).any())]
        n_g = max(1, len(present))
        # explicit layout in inches: title, subtitle, legend, plot, x label, risk table
        longest = max((len(words(lv)) for lv in present), default=4)
        width, left, right = 6.8, max(1.0, 0.3 + 0.064 * longest), 0.25
        h_title, h_sub, h_leg = 0.34, 0.24, 0.17 * (n_g + (1 if medians else 0)) + 0.1
        h_plot, h_xlab, h_tab, h_bottom = 3.1, 0.5, 0.32 + 0.2 * n_g, 0.08
        height = h_title + h_sub + h_leg + h_plot + h_xlab + h_tab + h_bottom
        fig = Figure(figsize=(width, height))
        fx = lambda inches: inches / width  # noqa: E731
        fy = lambda inches: inches / height  # noqa: E731
        plot_bottom = h_bottom + h_tab + h_xlab
        ax = fig.add_axes((fx(left), fy(plot_bottom), fx(width - left - right), fy(h_plot)))
        tab = fig.add_axes(
            (fx(left), fy(h_bottom), fx(width - left - right), fy(h_tab - 0.3)), sharex=ax
        )
        handles, curves = [], []
        xmax = float(time[ok].max()) if ok.any() else 1.0
        for i, lv in enumerate(present):
            sel = ok & (groups == lv)
            color = _COLORS[i % len(_COLORS)]
            kmf = KaplanMeier(time[sel].to_numpy(float), event[sel].to_numpy(bool))
            sf = kmf.survival_function_.iloc[:, 0]
            ax.step(sf.index, sf.to_numpy(), where="post", color=color, lw=1.6, gid=f"km:{lv}")
            if ci:
                band = kmf.confidence_interval_survival_function_
                ax.fill_between(
                    band.index,
                    band.iloc[:, 0].to_numpy(),
                    band.iloc[:, 1].to_numpy(),
                    step="post",
                    color=color,
                    alpha=0.13,
                    lw=0,
                )
            cens = time[sel & (event == 0)].to_numpy(float)
            if len(cens):
                ax.plot(
                    cens,
                    kmf.survival_function_at_times(cens).to_numpy(),
                    ls="none",
                    marker="|",
                    ms=5,
                    mew=1,
                    color=color,
                )
            n = int(sel.sum())
            med = f"median {_fmt_median(*medians[lv])} months" if lv in medians else ""
            handles.append(Line2D([], [], color=color, lw=2, label=f"{words(lv)} (n = {n}): {med}"))
            curves.append((lv, color, kmf))
        ax.set_ylim(0, 1.03)
        ax.set_xlim(0, xmax * 1.02)
        ax.set_ylabel(ylabel)
        ax.yaxis.set_major_formatter(
            matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.2g}" if v else "0")
        )
        ax.grid(alpha=0.2, lw=0.5)
        ax.tick_params(labelbottom=True)
        ax.set_xlabel(xlabel)
        sub = origin_note.rstrip(".")
        if len(present) >= 2 and np.isfinite(logrank_p):
            p = _fmt_p(logrank_p)
            sub += f"; log-rank p {p}" if p.startswith("<") else f"; log-rank p = {p}"
        fig.text(fx(0.12), 1 - fy(0.08), title, ha="left", va="top", fontsize=11,
                 fontweight="bold")  # fmt: skip
        fig.text(fx(0.12), 1 - fy(0.08 + h_title), sub, ha="left", va="top", fontsize=8,
                 color="#333")  # fmt: skip
        if handles:
            ax.legend(
                handles=handles,
                loc="lower left",
                bbox_to_anchor=(0.0, 1.0 + fy(0.04) / fy(h_plot)),
                frameon=False,
                ncols=1,
                handlelength=1.6,
                borderaxespad=0.2,
                title="95 % CI of the medians in brackets" if medians else None,
                title_fontsize=7.5,
                alignment="left",
            )
        # Number at risk, one row per group in its colour, at the x ticks
        ticks = [t for t in ax.get_xticks() if 0 <= t <= xmax * 1.02]
        tab.set_ylim(-0.5, n_g - 0.5)
        tab.set_yticks(range(n_g))
        tab.set_yticklabels([words(lv) for lv, _, _ in reversed(curves)] or [""])
        for lbl, (_, color, _) in zip(tab.get_yticklabels(), reversed(curves), strict=False):
            lbl.set_color(color)
        for row, (lv, color, _kmf) in enumerate(reversed(curves)):
            t_all = time[ok & (groups == lv)].to_numpy(float)
            for tk in ticks:
                at_risk = int((t_all >= tk).sum())
                tab.text(tk, row, str(at_risk), ha="center", va="center", color=color,
                         fontsize=8)  # fmt: skip
        tab.set_title("Number at risk", loc="left", fontsize=8.5, pad=4, x=-fx(left - 0.12) /
                      fx(width - left - right))  # fmt: skip
        tab.tick_params(axis="x", labelbottom=False, length=0)
        tab.tick_params(axis="y", length=0, pad=12)
        for side in ("top", "right", "bottom", "left"):
            tab.spines[side].set_visible(False)
        return fig


def forest_figure(cox: pd.DataFrame, *, title: str, landmark_months: float | None = None):
    """Forest plot of hazard ratios: one row per covariate and analysis, with the
    hazard ratio (95 % CI) and p as columns beside the plot.

    Parameters
    ----------
    cox : pandas.DataFrame
        Rows of cox.csv for one endpoint.
    title : str
    landmark_months : float, optional
        Named in the landmark rows.
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    names = {
        "naive": "naive (from time zero)",
        "landmark": "landmark" + (f" ({landmark_months:g} months)" if landmark_months else ""),
        "time_varying": "time-varying",
    }
    covs = list(dict.fromkeys(cox["covariate"]))
    rows: list[tuple[str, str | None, pd.Series | None]] = []
    for c in covs:
        rows.append((covariate_words(c), None, None))
        for a in _ANALYSIS_STYLE:
            sub = cox[(cox["covariate"] == c) & (cox["analysis"] == a)]
            if len(sub) and np.isfinite(sub["hr"].iloc[0]):
                rows.append((names[a], a, sub.iloc[0]))
    n = max(len(rows), 1)
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(9.4, 0.9 + 0.22 * n))
        gs = fig.add_gridspec(1, 3, width_ratios=[4.3, 2.7, 2.0], wspace=0.02)
        lab, ax, txt = (fig.add_subplot(gs[i]) for i in range(3))
        ys = np.arange(n)[::-1]
        his = []
        for y, (label, a, r) in zip(ys, rows, strict=True):
            bold = a is None
            lab.text(0.0 if bold else 0.04, y, label, va="center", ha="left",
                     fontweight="bold" if bold else "normal", fontsize=8.5)  # fmt: skip
            if r is None:
                continue
            color, marker = _ANALYSIS_STYLE[a]
            ax.errorbar(
                [r["hr"]],
                [y],
                xerr=[[r["hr"] - r["ci_low"]], [r["ci_high"] - r["hr"]]],
                fmt=marker,
                color=color,
                ms=4.5,
                capsize=2,
                lw=1.1,
            )
            his += [r["ci_low"], r["ci_high"]]
            txt.text(0.04, y, f"{r['hr']:.2f} ({r['ci_low']:.2f}–{r['ci_high']:.2f})",
                     va="center", ha="left", fontsize=8.5)  # fmt: skip
            txt.text(0.98, y, _fmt_p(r["p"]), va="center", ha="right", fontsize=8.5)
        top = n - 0.3
        for axis in (lab, txt):
            axis.set_xlim(0, 1)
            axis.set_ylim(-0.7, top + 0.8)
            axis.axis("off")
        txt.text(0.04, top + 0.5, "HR (95 % CI)", fontweight="bold", va="center", fontsize=8.5)
        txt.text(0.98, top + 0.5, "p", fontweight="bold", va="center", ha="right", fontsize=8.5)
        ax.set_ylim(-0.7, top + 0.8)
        ax.axvline(1.0, color="black", lw=0.8, ls="--")
        ax.set_xscale("log")
        finite = [v for v in his if np.isfinite(v) and v > 0]
        lo_x = min([*finite, 0.5]) / 1.3
        hi_x = max([*finite, 2.0]) * 1.3
        ax.set_xlim(lo_x, hi_x)
        ticks = [v * 10.0**k for k in range(-4, 4) for v in (1, 2, 5)]
        ax.xaxis.set_major_locator(FixedLocator([v for v in ticks if lo_x <= v <= hi_x]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.set_xlabel("Hazard ratio (log scale; below 1 favours the first group)", fontsize=8)
        ax.grid(alpha=0.2, axis="x", lw=0.5)
        fig.suptitle(title, x=0.01, ha="left", fontsize=11, fontweight="bold")
        fig.set_layout_engine("constrained")
        return fig


def render(fig, formats: tuple[str, ...] | str) -> dict[str, bytes] | bytes:
    """Render a figure to each format (PNG, SVG, PDF) and close it.

    Returns the bytes for a single format given as a string, else a dict by format.
    """
    import matplotlib

    _no_ligatures(fig)
    out = {}
    with matplotlib.rc_context(_STYLE):
        for fmt in (formats,) if isinstance(formats, str) else formats:
            buf = io.BytesIO()
            # no creation date: the same analysis gives the same files
            meta = {"Date": None} if fmt in ("svg", "pdf") else None
            if fmt == "pdf":
                meta = {"CreationDate": None}
            fig.savefig(buf, format=fmt, metadata=meta, dpi=DPI)
            out[fmt] = buf.getvalue()
    if getattr(fig, "number", None) is not None:  # a pyplot figure: release it
        _pyplot().close(fig)
    return out[formats] if isinstance(formats, str) else out


def _no_ligatures(fig) -> None:
    """Set every text with its own glyphs (no "fi" ligature).

    A ligature glyph stands for several characters, and matplotlib embeds such glyphs
    in a PDF as a further subset of the font: one more fontTools pass per PDF, for a
    typographic detail. The letters are the same; the PDF's text stays searchable.
    """
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        if hasattr(text, "set_fontfeatures"):  # matplotlib >= 3.11 (text shaping)
            text.set_fontfeatures(["-liga"])


# --------------------------------------------------------------------------- rendering in parallel


def render_spec(kind: str, kwargs: dict, formats: tuple[str, ...]) -> dict[str, bytes]:
    """Build one figure (``km`` or ``forest``) and render it: the unit of a render process."""
    fig = km_figure(**kwargs) if kind == "km" else forest_figure(**kwargs)
    return render(fig, formats)


def _warm(formats: tuple[str, ...] = ("png", "svg", "pdf")) -> None:
    """Import what rendering ``formats`` needs (before the workers fork, once for all)."""
    _pyplot()
    import matplotlib.backends.backend_agg

    if "svg" in formats:
        import matplotlib.backends.backend_svg
    if "pdf" in formats:
        import matplotlib.backends.backend_pdf  # noqa: F401
        from fontTools import subset  # noqa: F401  (PDF font subsets)
    if "png" in formats:
        from PIL import Image

        Image.preinit()  # PIL's PNG plugin, imported on the first save otherwise


class FigureRenderer:
    """Render figures in worker processes while the caller goes on computing.

    The workers are forked when the renderer is made, after this process imported
    matplotlib and the renderers, so they start with nothing to import. Forked, not spawned: a
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

            _warm(self.formats)  # imported once here, inherited by every forked worker
            self._pool = ProcessPoolExecutor(processes, mp_context=mp.get_context("fork"))
            with warnings.catch_warnings():
                # Python >= 3.12 warns about forking with threads; the workers only draw.
                warnings.simplefilter("ignore", DeprecationWarning)
                for _ in range(processes):  # fork the workers now, ready when figures come
                    self._pool.submit(_warm, self.formats)

    @property
    def executor(self):
        """The worker processes (a :class:`concurrent.futures.Executor`) or None.

        Other work can be queued there too (it runs in submission order with the
        figures)."""
        return self._pool

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
