"""Response figures: waterfall, spider and swimmer plots (matplotlib, PNG and SVG).

Figures are built on :class:`matplotlib.figure.Figure` objects directly (no pyplot
state, no GUI backend), so they work headless and in threads. Colours follow the
Okabe–Ito palette (safe for colour-blind readers) and are keyed by the RECIST
category, so a patient with progression from a new lesion is drawn as PD even when
the target sum shrank.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from recist_tool._atomic import atomic_write_bytes

#: Colour of each RECIST category (Okabe–Ito).
RESPONSE_COLOURS: dict[str, str] = {
    "CR": "#009E73",
    "PR": "#0072B2",
    "SD": "#E69F00",
    "NON-CR/NON-PD": "#CC79A7",
    "PD": "#D55E00",
    "NE": "#999999",
}
RESPONSE_ORDER = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")
PD_THRESHOLD_PCT = 20.0
#: Swimmer plot: rows per panel (panels side by side) and the most patients labelled.
ROWS_PER_PANEL = 70
MAX_LABELLED = 210
#: Spider plot: more patients than this get one panel per best overall response.
SPIDER_FACET_MIN = 30
PR_THRESHOLD_PCT = -30.0
_STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8.5,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 9,
    "svg.hashsalt": "recist-tool",
    "svg.fonttype": "none",  # real, editable text in SVG (and searchable)
    "pdf.fonttype": 42,  # TrueType text in PDF: selectable and extractable
}


def response_colour(category: object) -> str:
    """Colour of a RECIST category (grey for unknown or missing)."""
    return RESPONSE_COLOURS.get(str(category).upper().strip(), RESPONSE_COLOURS["NE"])


def style():
    """Context manager applying the figures' style (fonts, text as text in SVG/PDF).

    Used around drawing *and* saving (font types are read when saving), never as a
    global change: other figures in the same process keep their style.
    """
    import matplotlib

    return matplotlib.rc_context(_STYLE)


def _styled(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with style():
            return func(*args, **kwargs)

    return wrapper


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _legend_patches(categories: Sequence[str]) -> list[Patch]:
    present = [c for c in RESPONSE_ORDER if c in set(categories)]
    return [Patch(facecolor=RESPONSE_COLOURS[c], label=c) for c in present]


def _new_lesion_patients(timepoints: pd.DataFrame | None) -> set[str]:
    if timepoints is None or "new_lesions" not in timepoints:
        return set()
    mask = timepoints["new_lesions"].astype(str).str.lower().eq("yes")
    return set(timepoints.loc[mask, "patient_id"].astype(str))


def _threshold_lines(ax, label: bool = True) -> None:
    for y, text in ((PD_THRESHOLD_PCT, "+20 %"), (PR_THRESHOLD_PCT, "−30 %")):
        ax.axhline(y, linestyle="--", color="0.25", linewidth=1.0, zorder=1, gid=f"threshold{y:+g}")
        if label:
            ax.annotate(
                text,
                xy=(1.0, y),
                xycoords=("axes fraction", "data"),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8.5,
                color="0.25",
            )


@_styled
def waterfall(
    patients: pd.DataFrame,
    timepoints: pd.DataFrame | None = None,
    title: str = "Best change in sum of diameters",
) -> Figure:
    """Waterfall plot of the best % change in SOD per patient.

    Bars are sorted from the largest increase to the largest decrease and coloured
    by the *best overall response* (not by the size change). Patients with a new
    lesion at any time point are marked with ``*``. Dashed lines at +20 % and −30 %.

    Parameters
    ----------
    patients : pandas.DataFrame
        ``patients.csv`` columns ``patient_id``, ``best_change_pct``,
        ``best_overall_response``.
    timepoints : pandas.DataFrame, optional
        ``timepoints.csv`` (for the new-lesion marks).
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        One axes; bars carry the patient ID as ``gid``.
    """
    d = patients[["patient_id", "best_change_pct", "best_overall_response"]].copy()
    d["best_change_pct"] = pd.to_numeric(d["best_change_pct"], errors="coerce")
    excluded = int(d["best_change_pct"].isna().sum())
    d = d.dropna(subset=["best_change_pct"])
    d = d.sort_values(["best_change_pct", "patient_id"], ascending=[False, True], kind="stable")
    n = len(d)
    fig = _new_figure(max(5.0, min(12.0, 2.5 + 0.22 * n)), 4.2)
    ax = fig.add_subplot()
    x = np.arange(n)
    cats = d["best_overall_response"].astype(str).str.upper().tolist()
    bars = ax.bar(x, d["best_change_pct"], color=[response_colour(c) for c in cats], width=0.8)
    for bar, pid in zip(bars, d["patient_id"].astype(str), strict=True):
        bar.set_gid(pid)
    ax.axhline(0, color="black", linewidth=0.8, zorder=2)
    _threshold_lines(ax)
    newp = _new_lesion_patients(timepoints)
    handles = _legend_patches(cats)
    marked = False
    span = max(1.0, float(d["best_change_pct"].abs().max() if n else 1.0))
    for xi, (pid, val) in enumerate(
        zip(d["patient_id"].astype(str), d["best_change_pct"], strict=False)
    ):
        if pid in newp:
            off = 0.03 * span
            ax.text(
                xi,
                val + (off if val >= 0 else -off),
                "*",
                ha="center",
                va="bottom" if val >= 0 else "top",
                fontsize=12,
                gid=f"new:{pid}",
            )
            marked = True
    if marked:
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker="$*$",
                color="black",
                markersize=8,
                label="new lesion",
            )
        )
    ax.set_xlim(-0.7, n - 0.3 if n else 0.7)
    ax.set_ylabel("Best change from baseline in SOD (%)")
    ax.set_xlabel(
        f"Patients (n = {n})"
        + (f"; {excluded} without a follow-up sum not shown" if excluded else "")
    )
    if n <= 40:
        ax.set_xticks(x, d["patient_id"].astype(str), rotation=90)
    else:
        ax.set_xticks([])
    ax.set_title(title)
    ax.legend(
        handles=handles,
        title="Best overall response",
        loc="upper right",
        frameon=False,
        ncols=2 if len(handles) > 4 else 1,
    )
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(y=0.12)
    return fig


def _weeks(days: pd.Series) -> pd.Series:
    return pd.to_numeric(days, errors="coerce") / 7.0


@_styled
def spider(
    timepoints: pd.DataFrame,
    patients: pd.DataFrame | None = None,
    title: str = "Change in sum of diameters over time",
) -> Figure:
    """Spider plot: % change in SOD from baseline over time, one line per patient.

    Lines are coloured by best overall response; time points with overall PD are
    marked with ✕ and time points with a new lesion with ▲.

    Parameters
    ----------
    timepoints : pandas.DataFrame
        ``timepoints.csv`` columns ``patient_id``, ``days_from_baseline``,
        ``change_from_baseline_pct``, ``overall_response``, ``new_lesions``.
    patients : pandas.DataFrame, optional
        For the best overall response (line colours).
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        Each patient's line carries the patient ID as ``gid``.
    """
    t = timepoints.copy()
    t["patient_id"] = t["patient_id"].astype(str)
    t["weeks"] = _weeks(t["days_from_baseline"])
    t["pct"] = pd.to_numeric(t["change_from_baseline_pct"], errors="coerce")
    t.loc[t["days_from_baseline"].eq(0) & t["pct"].isna(), "pct"] = 0.0
    bor = {}
    if patients is not None:
        bor = dict(
            zip(
                patients["patient_id"].astype(str),
                patients["best_overall_response"].astype(str).str.upper(),
                strict=True,
            )
        )
    series = []
    for pid, g in t.sort_values(["patient_id", "weeks"]).groupby("patient_id", sort=True):
        g = g.dropna(subset=["weeks", "pct"])
        if len(g) >= 2:  # baseline only: nothing to draw
            series.append((pid, bor.get(pid, "NE"), g))
    cats = [c for _, c, _ in series]
    # Many patients: one panel per best overall response (small multiples), so the
    # lines of 125+ patients stay readable; few patients: one panel.
    facets = [c for c in RESPONSE_ORDER if c in set(cats)] if len(series) > SPIDER_FACET_MIN else []
    if facets:
        ncols = 2 if len(facets) == 4 else min(len(facets), 3)
        nrows = -(-len(facets) // ncols)
        fig = _new_figure(3.0 * ncols + 0.8, 2.5 * nrows + 1.1)
        grid = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
        axes = dict(zip(facets, grid.ravel(), strict=False))
        for extra in grid.ravel()[len(facets) :]:
            extra.set_visible(False)
        lw, ms, big = 0.9, 2.0, 5.5
    else:
        fig = _new_figure(6.5, 4.4)
        ax0 = fig.add_subplot()
        axes = {c: ax0 for c in set(cats) | {"NE"}}
        lw, ms, big = 1.4, 3.0, 9.0
    for pid, cat, g in series:
        ax = axes[cat]
        colour = response_colour(cat)
        ax.plot(
            g["weeks"],
            g["pct"],
            color=colour,
            linewidth=lw,
            marker="o",
            markersize=ms,
            alpha=0.85 if facets else 1.0,
            gid=pid,
            zorder=3,
        )
        resp = g["overall_response"].astype(str).str.upper()
        pd_pts = g[resp.eq("PD")]
        ax.plot(
            pd_pts["weeks"],
            pd_pts["pct"],
            linestyle="none",
            marker="X",
            markersize=big,
            color=RESPONSE_COLOURS["PD"],
            markeredgecolor="black",
            markeredgewidth=0.5,
            gid=f"pd:{pid}",
            zorder=4,
        )
        if "new_lesions" in g:
            nl = g[g["new_lesions"].astype(str).str.lower().eq("yes")]
            ax.plot(
                nl["weeks"],
                nl["pct"],
                linestyle="none",
                marker="^",
                markersize=big * 0.9,
                markerfacecolor="none",
                markeredgecolor="black",
                markeredgewidth=1.0,
                gid=f"new:{pid}",
                zorder=5,
            )
    for k, ax in enumerate(dict.fromkeys(axes.values())):
        ax.axhline(0, color="black", linewidth=0.8, zorder=2)
        _threshold_lines(ax, label=not facets or k == len(facets) - 1)
        ax.spines[["top", "right"]].set_visible(False)
    if facets:
        for c in facets:
            axes[c].set_title(f"{c} (n = {cats.count(c)})", fontsize=9.5, color=response_colour(c))
    handles = [
        *([] if facets else _legend_patches(cats)),
        Line2D(
            [],
            [],
            linestyle="none",
            marker="X",
            markersize=8,
            color=RESPONSE_COLOURS["PD"],
            markeredgecolor="black",
            label="PD at this visit",
        ),
        Line2D(
            [],
            [],
            linestyle="none",
            marker="^",
            markersize=7,
            markerfacecolor="none",
            markeredgecolor="black",
            label="new lesion",
        ),
    ]
    if facets:
        fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
        for ax in grid[-1]:
            ax.set_xlabel("Weeks from baseline")
        for ax in grid[-2, len(facets) - (nrows - 1) * ncols :] if nrows > 1 else []:
            ax.set_xlabel("Weeks from baseline")  # above an empty panel
            ax.tick_params(labelbottom=True)
        fig.supylabel("Change from baseline in SOD (%)", fontsize=10)
        fig.suptitle(f"{title} (n = {len(series)}; panels: best overall response)")
        return fig
    ax0.legend(
        handles=handles,
        title="Best overall response",
        loc="center left",
        bbox_to_anchor=(1.08, 0.5),
        frameon=False,
    )
    ax0.set_xlabel("Weeks from baseline")
    ax0.set_ylabel("Change from baseline in SOD (%)")
    ax0.set_title(title)
    return fig


@_styled
def swimmer(
    timepoints: pd.DataFrame,
    patients: pd.DataFrame,
    treatments: pd.DataFrame | None = None,
    followup: pd.DataFrame | None = None,
    title: str = "Time on study",
) -> Figure:
    """Swimmer plot: time on study per patient with response and progression marks.

    Each bar runs from baseline to the last assessment (or to ``last_followup_date``
    of ``followup`` when later), coloured by best overall response. Markers: first
    CR (●) and first PR (◆), first PD (✕), treatment dates (│). Patients without
    progression (still in follow-up) end in an arrow.

    Parameters
    ----------
    timepoints, patients : pandas.DataFrame
        Batch tables.
    treatments : pandas.DataFrame, optional
        Columns ``patient_id`` and ``date`` (one row per treatment).
    followup : pandas.DataFrame, optional
        Columns ``patient_id`` and ``last_followup_date``.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        Bars carry the patient ID as ``gid``; arrows ``arrow:<id>``.
    """
    t = timepoints.copy()
    t["patient_id"] = t["patient_id"].astype(str)
    t["weeks"] = _weeks(t["days_from_baseline"])
    p = patients.copy()
    p["patient_id"] = p["patient_id"].astype(str)
    base = pd.to_datetime(p.set_index("patient_id")["baseline_date"], errors="coerce")
    end = t.groupby("patient_id")["weeks"].max()
    if followup is not None and not followup.empty:
        f = followup.copy()
        f["patient_id"] = f["patient_id"].astype(str)
        fw = (
            (
                pd.to_datetime(f["last_followup_date"]).to_numpy()
                - base.reindex(f["patient_id"]).to_numpy()
            )
            / np.timedelta64(1, "D")
            / 7.0
        )
        end = end.combine(pd.Series(fw, index=f["patient_id"]).groupby(level=0).max(), max)
    p = p[p["patient_id"].isin(end.index)].copy()
    p["end"] = p["patient_id"].map(end).fillna(0.0)
    excluded = int((p["end"] <= 0).sum())
    p = p[p["end"] > 0]  # baseline only: no time on study to draw
    p = p.sort_values(["end", "patient_id"], ascending=[False, True], kind="stable")
    n = len(p)
    # Readable at any size: at most ROWS_PER_PANEL rows per panel, panels side by side
    # (longest time on study top left), row pitch fixed in inches so the labels never
    # overlap; beyond MAX_LABELLED patients the IDs are left out.
    panels = max(1, -(-n // ROWS_PER_PANEL)) if n <= MAX_LABELLED else 1
    per = -(-n // panels) if n else 1
    labelled = n <= MAX_LABELLED
    pitch = 0.15 if labelled else 7.5 / max(n, 1)  # inches per row
    pitch_pt = pitch * 72
    bar_pt = 0.72 * pitch_pt  # bar height in points
    mark = max(2.0, min(7.0, 0.95 * bar_pt))  # markers fit inside the bars
    label_pt = max(5.0, min(8.5, 0.72 * pitch_pt))
    height = 1.6 + pitch * per
    fig = _new_figure(1.2 + 3.6 * panels, max(3.0, height))
    axes = fig.subplots(1, panels, sharex=True, squeeze=False)[0]
    xmax = float(p["end"].max()) if n else 1.0
    progressed = set()
    if "pfs_event" in p:
        progressed = set(p.loc[pd.to_numeric(p["pfs_event"], errors="coerce").eq(1), "patient_id"])
    elif "progression_date" in p:
        progressed = set(p.loc[p["progression_date"].notna(), "patient_id"])
    resp = t["overall_response"].astype(str).str.upper()
    firsts = {
        cat: t[resp.eq(cat)].sort_values("weeks").groupby("patient_id").head(1)
        for cat in ("CR", "PR", "PD")
    }
    tr = None
    if treatments is not None and not treatments.empty:
        tr = treatments.copy()
        tr["patient_id"] = tr["patient_id"].astype(str)
        tr["weeks"] = (
            (pd.to_datetime(tr["date"]).to_numpy() - base.reindex(tr["patient_id"]).to_numpy())
            / np.timedelta64(1, "D")
            / 7.0
        )
    cats_all = p["best_overall_response"].astype(str).str.upper().tolist()
    for k, ax in enumerate(axes):
        part = p.iloc[k * per : (k + 1) * per]
        m = len(part)
        y = np.arange(m)[::-1]  # first (longest) at the top
        cats = part["best_overall_response"].astype(str).str.upper().tolist()
        bars = ax.barh(
            y, part["end"], height=0.72, color=[response_colour(c) for c in cats], alpha=0.9
        )
        for bar, pid in zip(bars, part["patient_id"], strict=True):
            bar.set_gid(pid)
        row = dict(zip(part["patient_id"], y, strict=True))
        for cat, marker, label in (
            ("CR", "o", "first CR"),
            ("PR", "D", "first PR"),
            ("PD", "X", "first PD"),
        ):
            first = firsts[cat][firsts[cat]["patient_id"].isin(row)]
            colour = "black" if cat != "PD" else RESPONSE_COLOURS["PD"]
            ax.plot(
                first["weeks"],
                first["patient_id"].map(row),
                linestyle="none",
                marker=marker,
                markersize=mark * (0.8 if cat == "PR" else 1.0),
                color=colour,
                markeredgecolor="black",
                markeredgewidth=0.5,
                markerfacecolor="white" if cat != "PD" else colour,
                label=label,
                gid=f"first:{cat}",
                zorder=4,
            )
        if tr is not None:
            sub = tr[tr["patient_id"].isin(row)]
            ax.plot(
                sub["weeks"],
                sub["patient_id"].map(row),
                linestyle="none",
                marker="|",
                markersize=bar_pt,
                markeredgewidth=1.2,
                color="black",
                label="treatment",
                gid="treatment",
                zorder=4,
            )
        for pid, yi, e in zip(part["patient_id"], y, part["end"], strict=True):
            if pid not in progressed:
                ax.annotate(
                    "",
                    xy=(e + 0.045 * xmax + 0.5, yi),
                    xytext=(e, yi),
                    arrowprops={
                        "arrowstyle": "-|>",
                        "color": "black",
                        "lw": 0.8,
                        "mutation_scale": max(4.0, 0.9 * bar_pt),
                        "shrinkA": 0,
                        "shrinkB": 0,
                    },
                    gid=f"arrow:{pid}",
                )
        if labelled:
            ax.set_yticks(y, part["patient_id"], fontsize=label_pt)
        else:
            ax.set_yticks([])
        ax.tick_params(axis="y", length=0)
        ax.set_ylim(-0.6, max(per, 1) - 0.4)
        ax.set_xlim(0, xmax * 1.1 + 1)
        ax.spines[["top", "right"]].set_visible(False)
    handles = _legend_patches(cats_all)
    h2, _ = axes[0].get_legend_handles_labels()
    handles += [
        h
        for h in h2
        if h.get_label()
        and not h.get_label().startswith("_")
        and (h.get_xdata() is None or len(h.get_xdata()) > 0)
    ]
    handles.append(
        Line2D(
            [], [], color="black", marker=">", markersize=5, label="in follow-up (no progression)"
        )
    )
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=min(5, len(handles)),
        frameon=False,
        title="Best overall response and events"
        + (f" ({excluded} patient(s) without a follow-up CT not shown)" if excluded else ""),
    )
    for ax in axes:  # on each panel: a figure-level label would sit under the legend
        ax.set_xlabel("Weeks from baseline")
    axes[0].set_ylabel("Patient" if labelled else f"Patients (n = {n}), sorted by time on study")
    fig.suptitle(title + (f" (n = {n}, longest first)" if n > 1 else ""))
    return fig


@_styled
def figure_bytes(fig: Figure, fmt: str, dpi: int = 300) -> bytes:
    """Render a figure to PNG (300 dpi), PDF or SVG bytes (vector formats without a
    creation date, so the same results give the same files)."""
    buf = io.BytesIO()
    kwargs = {}
    if fmt == "svg":
        kwargs = {"metadata": {"Date": None}}
    elif fmt == "pdf":
        kwargs = {"metadata": {"CreationDate": None}}
    fig.savefig(buf, format=fmt, dpi=dpi, **kwargs)
    return buf.getvalue()


def save_figure(
    fig: Figure,
    stem: str | os.PathLike,
    formats: Sequence[str] = ("png", "pdf", "svg"),
    dpi: int = 300,
) -> list[Path]:
    """Save a figure as ``<stem>.png`` (300 dpi), ``<stem>.pdf`` and ``<stem>.svg``
    (vector), each atomically.

    Returns
    -------
    list of pathlib.Path
    """
    out = []
    for fmt in formats:
        path = Path(f"{stem}.{fmt}")
        atomic_write_bytes(path, figure_bytes(fig, fmt, dpi))
        out.append(path)
    return out


def response_figures(
    timepoints: pd.DataFrame,
    patients: pd.DataFrame,
    treatments: pd.DataFrame | None = None,
    followup: pd.DataFrame | None = None,
) -> dict[str, Figure]:
    """The three response figures by name (``waterfall``, ``spider``, ``swimmer``)."""
    return {
        "waterfall": waterfall(patients, timepoints),
        "spider": spider(timepoints, patients),
        "swimmer": swimmer(timepoints, patients, treatments=treatments, followup=followup),
    }
