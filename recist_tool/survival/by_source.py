"""The survival analysis per response source (reader), side by side.

``recist-tool survival --responses reader1=DIR --responses reader2=DIR --responses
adjudicated=DIR`` runs the whole analysis of :func:`recist_tool.survival.run_survival`
once per source, each into ``OUTDIR/<source>/``, and then puts the results side by
side: ``by_source_km.csv``, ``by_source_logrank.csv``, ``by_source_cox.csv`` (the
usual tables with a ``source`` column first) and a forest plot of every Cox hazard
ratio per source (``forest_by_source_<endpoint>.png/.svg``), so the sensitivity of the
imaging-response result to the reader is visible.

A source is a ``patients.csv`` of ``recist-tool batch``, a folder holding one (a
batch output folder), or a folder of annotation CSVs (e.g.
``COHORT_DIR/readings/reader1``), which is evaluated here with the RECIST engine
(default settings, recorded in ``by_source_summary.json``; run ``recist-tool batch``
first for other settings).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recist_tool._atomic import atomic_write, atomic_write_bytes, atomic_write_text
from recist_tool._outputs import output_set
from recist_tool.survival.inputs import Source, SurvivalInputError, read_inputs
from recist_tool.survival.pipeline import SurvivalResult, SurvivalSettings, run_survival

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_MARKERS = ("o", "s", "D", "^", "v", "P", "X")
_COLORS = ("#1b6ca8", "#e08a00", "#3c8d40", "#b8322a", "#7a4fa0", "#6b6b6b")


@dataclass
class SourceSpec:
    """One response source: its name, what was given and the patients table used."""

    name: str
    given: str
    kind: str  # "patients.csv", "batch folder" or "annotations"
    responses: Source


@dataclass
class BySourceResult:
    """Per source, the survival result; and the combined tables."""

    results: dict[str, SurvivalResult]
    km: pd.DataFrame
    logrank: pd.DataFrame
    cox: pd.DataFrame
    sources: list[SourceSpec] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def parse_source(text: str) -> tuple[str | None, str]:
    """``NAME=PATH`` -> (NAME, PATH); a plain ``PATH`` -> (None, PATH)."""
    name, sep, path = text.partition("=")
    if sep and name and _NAME_RE.match(name.strip()) and path:
        return name.strip(), path.strip()
    return None, text


def resolve_source(name: str, path: str | os.PathLike) -> SourceSpec:
    """Turn a ``--responses`` path into a patients table source.

    Raises
    ------
    SurvivalInputError
        When the path does not exist or holds neither patients.csv nor annotations.
    """
    from recist_tool.annotations import read_annotations
    from recist_tool.response import evaluate

    p = Path(path)
    if p.is_file():
        return SourceSpec(name, str(p), "patients.csv", p)
    if p.is_dir() and (p / "patients.csv").is_file():
        return SourceSpec(name, str(p), "batch folder", p / "patients.csv")
    if p.is_dir():
        files = sorted(q for q in p.glob("*.csv") if q.is_file())
        if not files:
            raise SurvivalInputError(
                f"--responses {name}={p}: the folder holds neither patients.csv (a batch "
                "output) nor annotation CSV files (a readings folder)"
            )
        patients = evaluate(read_annotations(files)).patients
        return SourceSpec(name, str(p), "annotations", patients)
    raise SurvivalInputError(f"--responses {name}={p}: no such file or folder")


def run_survival_by_source(
    clinical: Source,
    sources: dict[str, str | os.PathLike],
    treatments: Source | None,
    outdir: str | os.PathLike,
    settings: SurvivalSettings | None = None,
) -> BySourceResult:
    """Run the survival analysis once per response source and compare them.

    Every source's inputs are read and checked before anything is written.

    Parameters
    ----------
    clinical, treatments : path or DataFrame
        As for :func:`run_survival` (shared by every source).
    sources : dict
        Source name (a folder name: letters, digits, ``_ . -``) -> path (patients.csv,
        a batch output folder or a folder of annotation CSVs).
    outdir : path-like
        Receives one folder per source and the combined tables and forest plots.
    settings : SurvivalSettings, optional
    """
    settings = settings or SurvivalSettings()
    settings.check()
    if not sources:
        raise SurvivalInputError("no response source given")
    for name in sources:
        if not _NAME_RE.match(name):
            raise SurvivalInputError(
                f"--responses {name}=…: the name must be letters, digits, _ . - (a folder name)"
            )
    specs = [resolve_source(n, p) for n, p in sources.items()]
    for spec in specs:  # check every input first: a bad source writes nothing
        read_inputs(clinical, spec.responses, treatments)
    results = {}
    names: list[str] = []
    # One output set: every source's folder and the combined files appear at once (the
    # kind of a plain survival run: the same command, so either replaces the other).
    with output_set(outdir, "survival") as out:
        for spec in specs:
            results[spec.name] = run_survival(
                clinical, spec.responses, treatments, out / spec.name, settings
            )
        tables = {}
        for key in ("km", "logrank", "cox"):
            parts = []
            for name, res in results.items():
                t = getattr(res, key).copy()
                t.insert(0, "source", name)
                parts.append(t)
            tables[key] = pd.concat(parts, ignore_index=True)
        for key, frame in tables.items():
            name = f"by_source_{key}.csv"
            with atomic_write(out / name, "w") as fh:
                frame.to_csv(fh, index=False, lineterminator="\n", float_format="%.10g")
            names.append(name)
        if settings.figures:
            from recist_tool.survival.plots import render

            for ep in dict.fromkeys(settings.endpoints):
                sub = tables["cox"][tables["cox"]["endpoint"] == ep]
                if not len(sub):
                    continue
                fig = forest_by_source_figure(
                    sub, title=f"Cox hazard ratios by response source, {ep.upper()}"
                )
                for fmt, data in render(fig, settings.formats).items():
                    name = f"forest_by_source_{ep}.{fmt}"
                    atomic_write_bytes(out / name, data)
                    names.append(name)
        summary = {
            "sources": [
                {
                    "name": s.name,
                    "given": s.given,
                    "kind": s.kind,
                    "patients": _n_patients(results[s.name]),
                }
                for s in specs
            ],
            "settings": asdict(settings),
            "response_settings_for_annotation_folders": "RECIST 1.1 engine defaults",
        }
        atomic_write_text(
            out / "by_source_summary.json", json.dumps(summary, indent=2, default=str) + "\n"
        )
        names.append("by_source_summary.json")
    final = Path(outdir)
    for res in results.values():  # the files' final paths, not the staging folder's
        res.files = [final / p.relative_to(out) for p in res.files]
    files = [final / n for n in names]
    return BySourceResult(results, tables["km"], tables["logrank"], tables["cox"], specs, files)


def _n_patients(res: SurvivalResult) -> int:
    km = res.km[(res.km["predictor"] == "all") & (res.km["analysis"] == "naive")]
    return int(km["n"].max()) if len(km) else 0


def forest_by_source_figure(cox: pd.DataFrame, *, title: str):
    """Forest plot: every (covariate, analysis) row, one marker and colour per source."""
    from recist_tool.survival.plots import _pyplot

    plt = _pyplot()
    sources = list(dict.fromkeys(cox["source"]))
    keys = list(dict.fromkeys(zip(cox["covariate"], cox["analysis"], strict=True)))
    fig, ax = plt.subplots(
        figsize=(8.5, 1.4 + 0.32 * len(keys) * max(1, len(sources)) / 1.5), dpi=150
    )
    step = 0.8 / max(len(sources), 1)
    for j, src in enumerate(sources):
        sub = cox[cox["source"] == src].set_index(["covariate", "analysis"])
        ys, hr, lo, hi = [], [], [], []
        for i, key in enumerate(keys):
            if key in sub.index:
                r = sub.loc[key]
                if isinstance(r, pd.DataFrame):
                    r = r.iloc[0]
                if np.isfinite(r["hr"]) and np.isfinite(r["ci_low"]) and np.isfinite(r["ci_high"]):
                    ys.append(len(keys) - 1 - i + 0.4 - (j + 0.5) * step)
                    hr.append(r["hr"])
                    lo.append(r["ci_low"])
                    hi.append(r["ci_high"])
        if ys:
            h, lo_a, hi_a = np.array(hr), np.array(lo), np.array(hi)
            ax.errorbar(
                h,
                ys,
                xerr=[h - lo_a, hi_a - h],
                fmt=_MARKERS[j % len(_MARKERS)],
                color=_COLORS[j % len(_COLORS)],
                ms=4.5,
                capsize=2,
                lw=1.1,
                label=src,
            )
    ax.axvline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xscale("log")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    lo_x, hi_x = ax.get_xlim()
    ticks = [v * 10.0**k for k in range(-4, 4) for v in (1, 2, 5)]
    ax.xaxis.set_major_locator(FixedLocator([v for v in ticks if lo_x <= v <= hi_x]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([f"{c} ({a.replace('_', '-')})" for c, a in reversed(keys)], fontsize=7.5)
    ax.set_ylim(-0.6, len(keys) - 0.4)
    ax.set_xlabel("Hazard ratio (95 % CI, log scale)")
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(alpha=0.25, axis="x")
    ax.legend(fontsize=8, loc="best", title="response source", title_fontsize=8)
    fig.tight_layout()
    return fig
