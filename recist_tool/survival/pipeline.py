"""The whole survival analysis: inputs -> KM, log-rank, Cox (3 analyses), PH test, figures.

:func:`run_survival` computes everything in memory first and only then writes the
tables and figures as one output set (:mod:`recist_tool._outputs`): they appear
together, and a failure leaves OUTDIR untouched.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recist_tool._atomic import atomic_write, atomic_write_bytes, atomic_write_text
from recist_tool._outputs import output_set
from recist_tool.errors import RecistError
from recist_tool.survival.cox import (
    DAYS_PER_MONTH,
    CoxFit,
    design_matrix,
    fit_cox,
    fit_time_varying,
    long_format,
)
from recist_tool.survival.groups import (
    IMAGING,
    TREATMENTS,
    Predictor,
    build_predictors,
    km_groups,
)
from recist_tool.survival.inputs import Source, SurvivalInputs, read_inputs
from recist_tool.survival.km import km_rows
from recist_tool.survival.logrank import logrank
from recist_tool.survival.ph import ph_test
from recist_tool.survival.plots import ENDPOINT_WORDS, predictor_words

ENDPOINTS = ("os", "pfs")
#: Figure formats (``SurvivalSettings.formats``, ``--figure-format``).
FIGURE_FORMATS = ("png", "svg", "pdf")
KM_COLUMNS = [
    "endpoint",
    "analysis",
    "predictor",
    "group",
    "n",
    "events",
    "median_months",
    "median_ci_low",
    "median_ci_high",
    "rmst_months",
    "rmst_se",
    "rmst_horizon_months",
]
LOGRANK_COLUMNS = [
    "endpoint",
    "analysis",
    "predictor",
    "statistic",
    "df",
    "p",
    "median_difference_months",
]
COX_COLUMNS = [
    "endpoint",
    "analysis",
    "covariate",
    "hr",
    "ci_low",
    "ci_high",
    "p",
    "n",
    "events",
    "concordance",
    "n_excluded",
]
PH_COLUMNS = ["endpoint", "analysis", "covariate", "statistic", "df", "p", "transform"]


class SurvivalSettingsError(RecistError):
    """Invalid survival settings."""


@dataclass
class SurvivalSettings:
    """Options of the survival analysis.

    Attributes
    ----------
    endpoints : tuple of str
        ``os`` and/or ``pfs`` (PFS needs patients.csv).
    predictors : list of str or None
        Predictors (default: all available, see ``build_predictors``).
    landmark_months : float
        Landmark time for the landmark analysis.
    grouping : str
        ``three`` (response / stable / progression), ``control`` (response+stable vs
        progression) or ``response`` (response vs no response).
    rmst_horizon_months : float or None
        RMST horizon; default per predictor: the shortest of its groups' longest
        follow-up.
    pfs_death : bool
        Count death without recorded progression as a PFS event.
    figures : bool
        Write the figures.
    formats : tuple of str
        Figure formats, one file each per figure: ``png`` (300 dpi), ``svg`` and
        ``pdf`` (vector; the PDF with embedded TrueType fonts, selectable text).
        Default PNG and SVG: a PDF costs a font-subsetting pass per figure, about as
        much as the rest of the figure (add ``pdf`` for journal submission).
    ci_bands : bool
        Draw the 95 % confidence bands of the Kaplan–Meier curves.
    ph_transform : str
        Time transform of the proportional-hazards test.
    founding : bool
        Add the founding study's four OS comparisons with the published figures
        (``founding_study.csv``; needs the OS endpoint).
    bootstrap : int
        Bootstrap resamples for the CI of each median difference of that table.
    """

    endpoints: tuple[str, ...] = ("os",)
    predictors: list[str] | None = None
    landmark_months: float = 3.0
    grouping: str = "three"
    tgr_cutoff: float = 0.8
    rmst_horizon_months: float | None = None
    pfs_death: bool = False
    figures: bool = True
    formats: tuple[str, ...] = ("png", "svg")
    ci_bands: bool = True
    ph_transform: str = "km"
    founding: bool = True
    bootstrap: int = 1000

    def check(self) -> None:
        """Raise :class:`SurvivalSettingsError` on an invalid value."""
        bad = [e for e in self.endpoints if e not in ENDPOINTS]
        if bad or not self.endpoints:
            raise SurvivalSettingsError(
                f"unknown endpoint {', '.join(bad) or '(none)'} (expected os or pfs)"
            )
        if not np.isfinite(self.landmark_months) or self.landmark_months <= 0:
            raise SurvivalSettingsError(
                f"--landmark-months must be a positive number, not {self.landmark_months}"
            )
        h = self.rmst_horizon_months
        if h is not None and (not np.isfinite(h) or h <= 0):
            raise SurvivalSettingsError(f"--rmst-horizon must be a positive number, not {h}")
        if self.bootstrap < 0:
            raise SurvivalSettingsError(f"--bootstrap must be 0 or more, not {self.bootstrap}")
        bad_fmt = [f for f in self.formats if f not in FIGURE_FORMATS]
        if bad_fmt or not self.formats:
            raise SurvivalSettingsError(
                f"unknown figure format(s): {', '.join(bad_fmt) or '(none)'} "
                f"(expected {', '.join(FIGURE_FORMATS)})"
            )


@dataclass
class SurvivalResult:
    """Tables, notes and files of one survival run."""

    km: pd.DataFrame
    logrank: pd.DataFrame
    cox: pd.DataFrame
    ph: pd.DataFrame
    exclusions: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    settings: SurvivalSettings = field(default_factory=SurvivalSettings)
    fits: dict[tuple[str, str], CoxFit] = field(default_factory=dict)
    founding: pd.DataFrame | None = None


def endpoint_data(inputs: SurvivalInputs, endpoint: str, pfs_death: bool = False):
    """Follow-up in days from time zero and the event, per evaluable patient.

    OS: last contact (death when ``death`` is 1). PFS: the RECIST progression date;
    otherwise censored at the last evaluable scan (``baseline_date + pfs_days``), or
    at death when ``pfs_death``. Patients without patients.csv rows or with no
    follow-up scan after time zero are not evaluable for PFS.

    Returns
    -------
    (time_days, event, notes)
    """
    clin = inputs.clinical
    if endpoint == "os":
        return clin["os_days"].astype(float), clin["death"].astype(int), []
    r = inputs.responses
    if r is None:
        raise SurvivalSettingsError("the PFS endpoint needs patients.csv (--responses)")
    prog = r["pfs_event"] == 1
    t = r["progression_days"].where(prog, r["last_scan_days"]).astype(float)
    e = prog.astype(int)
    if pfs_death:
        died = (clin.loc[r.index, "death"] == 1) & ~prog
        t = t.where(~died, clin.loc[r.index, "os_days"])
        e = e.where(~died, 1)
    ok = t > 0
    notes = []
    missing = len(clin) - len(r)
    if missing:
        notes.append(f"PFS: {missing} patient(s) without imaging (not in patients.csv) left out")
    if (~ok).any():
        notes.append(
            f"PFS: {int((~ok).sum())} patient(s) without a follow-up scan after time zero left out"
        )
    return t[ok], e[ok].astype(int), notes


def _months(days: pd.Series) -> pd.Series:
    return days.astype(float) / DAYS_PER_MONTH


def _median_difference(rows: list[dict]) -> float:
    """Median of the first group minus that of the last (reference) group."""
    if len(rows) < 2:
        return float("nan")
    return float(rows[0]["median_months"] - rows[-1]["median_months"])


@dataclass
class _Analysis:
    name: str
    time: pd.Series  # months from the origin
    event: pd.Series
    values: dict[str, pd.Series]
    n_excluded: int
    origin: str
    note: str = ""


def _analyses(
    time_days: pd.Series, event: pd.Series, preds: dict[str, Predictor], landmark: float
) -> tuple[list[_Analysis], dict]:
    naive = _Analysis(
        "naive",
        _months(time_days),
        event,
        {n: p.values.loc[time_days.index] for n, p in preds.items()},
        0,
        "time from treatment (time zero)",
        "Naive analysis: every patient, from the first treatment, groups as finally known",
    )
    l_days = landmark * DAYS_PER_MONTH
    at = time_days > l_days
    before_event = int(((time_days <= l_days) & (event == 1)).sum())
    before_cens = int(((time_days <= l_days) & (event == 0)).sum())
    ids = time_days.index[at]
    lm = _Analysis(
        "landmark",
        _months(time_days[at] - l_days),
        event[at],
        {n: p.at(l_days).loc[ids] for n, p in preds.items()},
        int((~at).sum()),
        f"time from the {landmark:g}-month landmark; {int((~at).sum())} patient(s) excluded "
        f"({before_event} with the event, {before_cens} censored before the landmark)",
        f"Landmark analysis: patients in follow-up at {landmark:g} months "
        f"({int((~at).sum())} excluded), groups as known then",
    )
    excl = {
        "landmark_months": landmark,
        "excluded": int((~at).sum()),
        "event_before_landmark": before_event,
        "censored_before_landmark": before_cens,
    }
    return [naive, lm], excl


def analyse_endpoint(
    inputs: SurvivalInputs, preds: dict[str, Predictor], endpoint: str, s: SurvivalSettings
) -> dict:
    """All tables (and figure specs) of one endpoint."""
    time_days, event, notes = endpoint_data(inputs, endpoint, s.pfs_death)
    analyses, excl = _analyses(time_days, event, preds, s.landmark_months)
    cox_preds = preds
    if endpoint == "pfs" and IMAGING in preds and len(preds) > 1:
        # Progression at the first CT is itself a PFS event: from time zero the imaging
        # groups are not estimable as hazard ratios; the landmark model keeps them.
        cox_preds = {n: p for n, p in preds.items() if n != IMAGING}
        notes.append(
            "pfs: imaging_response is left out of the naive and time-varying Cox models "
            "(progression at the first CT is itself the PFS event); see the landmark model"
        )
    km, lr, cox, ph, figs, fits = [], [], [], [], [], {}
    for a in analyses:
        all_rows, _ = km_rows(
            a.time,
            a.event,
            pd.Series("all", index=a.time.index),
            ("all",),
            s.rmst_horizon_months,
        )
        km += [
            {"endpoint": endpoint, "analysis": a.name, "predictor": "all", **r} for r in all_rows
        ]
        for name, pred in preds.items():
            groups, order = km_groups(pred, a.values[name])
            rows, _ = km_rows(a.time, a.event, groups, order, s.rmst_horizon_months)
            km += [{"endpoint": endpoint, "analysis": a.name, "predictor": name, **r} for r in rows]
            test = logrank(a.time, a.event, groups)
            lr.append(
                {
                    "endpoint": endpoint,
                    "analysis": a.name,
                    "predictor": name,
                    **test,
                    "median_difference_months": _median_difference(rows),
                }
            )
            figs.append(
                {
                    "name": f"km_{endpoint}_{name}_{a.name}",
                    "time": a.time,
                    "event": a.event,
                    "groups": groups,
                    "order": order,
                    "title": f"{ENDPOINT_WORDS[endpoint]} by {predictor_words(name)}",
                    "xlabel": (
                        "Months since first treatment"
                        if a.name == "naive"
                        else f"Months since the {s.landmark_months:g}-month landmark"
                    ),
                    "origin_note": a.note,
                    "ylabel": f"{ENDPOINT_WORDS[endpoint]} (probability)",
                    "ci": s.ci_bands,
                    "group_names": (
                        {"> 1": "More than one treatment", "<= 1": "One treatment"}
                        if name == TREATMENTS
                        else None
                    ),
                    "logrank_p": test["p"],
                    "medians": {
                        r["group"]: (r["median_months"], r["median_ci_low"], r["median_ci_high"])
                        for r in rows
                    },
                }
            )
        x = design_matrix(cox_preds if a.name == "naive" else preds, a.values)
        fit = fit_cox(a.time, a.event, x)
        n_excl = a.n_excluded + (len(a.time) - fit.n)
        cox += _cox_rows(fit, endpoint, a.name, n_excl)
        fits[(endpoint, a.name)] = fit
        notes += [f"{endpoint} {a.name} Cox: {m}" for m in fit.notes]
        if fit.model is not None:
            try:
                t = ph_test(fit.model, fit.data, s.ph_transform)
            except (ValueError, np.linalg.LinAlgError) as exc:  # pragma: no cover
                notes.append(f"{endpoint} {a.name}: PH test failed: {exc}")
            else:
                t.insert(0, "analysis", a.name)
                t.insert(0, "endpoint", endpoint)
                ph += t.to_dict("records")
    # Time-varying: the naive population, predictors switching on when known.
    complete = design_matrix(cox_preds, analyses[0].values).notna().all(axis=1)
    long = long_format(time_days[complete], event[complete], cox_preds)
    naive = fits[(endpoint, "naive")].model
    tv = fit_time_varying(long, None if naive is None else naive.params_)
    cox += _cox_rows(
        tv, endpoint, "time_varying", int((~complete).sum()) + int(complete.sum()) - tv.n
    )
    fits[(endpoint, "time_varying")] = tv
    notes += [f"{endpoint} time-varying Cox: {m}" for m in tv.notes]
    return {
        "km": km,
        "logrank": lr,
        "cox": cox,
        "ph": ph,
        "figs": figs,
        "fits": fits,
        "notes": notes,
        "exclusions": excl,
    }


def _cox_rows(fit: CoxFit, endpoint: str, analysis: str, n_excluded: int) -> list[dict]:
    return [
        {
            "endpoint": endpoint,
            "analysis": analysis,
            **r,
            "n": fit.n,
            "events": fit.events,
            "concordance": fit.concordance,
            "n_excluded": n_excluded,
        }
        for r in fit.table.to_dict("records")
    ]


def analyse(
    inputs: SurvivalInputs, settings: SurvivalSettings, on_endpoint=None, executor=None
) -> tuple[SurvivalResult, list]:
    """Compute every table (no files written).

    ``on_endpoint(endpoint, output)``, when given, receives each endpoint's tables and
    figure specs as soon as they are computed (figures can render meanwhile).
    ``executor`` (a :class:`concurrent.futures.Executor`), when given, computes the
    founding study's table (its bootstrap) while the endpoints are analysed here.

    Returns
    -------
    (SurvivalResult, figure specs)
    """
    settings.check()
    founding = None
    if settings.founding and "os" in settings.endpoints:
        from recist_tool.survival.founding import start_founding_table

        founding = start_founding_table(
            inputs, settings.landmark_months, n_boot=settings.bootstrap, executor=executor
        )
    notes: list[str] = []
    preds = build_predictors(
        inputs, settings.predictors, settings.grouping, notes, tgr_cutoff=settings.tgr_cutoff
    )
    notes += [f"{p.name}: {m}" for p in preds.values() for m in p.notes]
    parts = {k: [] for k in ("km", "logrank", "cox", "ph", "figs")}
    fits, excl = {}, {}
    for ep in dict.fromkeys(settings.endpoints):
        out = analyse_endpoint(inputs, preds, ep, settings)
        if on_endpoint is not None:
            on_endpoint(ep, out)
        for k in parts:
            parts[k] += out[k]
        fits.update(out["fits"])
        notes += out["notes"]
        excl[ep] = out["exclusions"]
    result = SurvivalResult(
        km=pd.DataFrame(parts["km"], columns=KM_COLUMNS),
        logrank=pd.DataFrame(parts["logrank"], columns=LOGRANK_COLUMNS),
        cox=pd.DataFrame(parts["cox"], columns=COX_COLUMNS),
        ph=pd.DataFrame(parts["ph"], columns=PH_COLUMNS),
        exclusions=excl,
        notes=notes,
        settings=settings,
        fits=fits,
    )
    if founding is not None:
        table = founding()
        result.founding = table if len(table) else None
    return result, parts["figs"]


def _csv_bytes(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n", float_format="%.10g")


def run_survival(
    clinical: Source,
    responses: Source | None,
    treatments: Source | None,
    outdir: str | os.PathLike,
    settings: SurvivalSettings | None = None,
) -> SurvivalResult:
    """Run the whole survival analysis and write its outputs to ``outdir``.

    Parameters
    ----------
    clinical, responses, treatments : path or DataFrame
        clinical.csv, patients.csv from ``recist-tool batch`` (optional), treatments.csv
        (optional).
    outdir : path-like
        Output folder (created): km.csv, logrank.csv, cox.csv, ph_test.csv,
        summary.json and the figures.
    settings : SurvivalSettings, optional

    Returns
    -------
    SurvivalResult
    """
    settings = settings or SurvivalSettings()
    settings.check()
    inputs = read_inputs(clinical, responses, treatments)
    rendered: dict[str, bytes] = {}
    if not settings.figures:
        result, _ = analyse(inputs, settings)
    else:
        from recist_tool.survival.plots import FigureRenderer

        # Figures render in worker processes while the next endpoint is analysed.
        with FigureRenderer(settings.formats) as renderer:

            def submit(ep: str, out: dict) -> None:
                # The forest plot first: the longest figure (~3 Kaplan–Meier figures)
                # would otherwise come last and keep one worker busy alone.
                cox = pd.DataFrame(out["cox"], columns=COX_COLUMNS)
                if len(cox):
                    renderer.submit(
                        f"forest_{ep}",
                        "forest",
                        cox=cox,
                        title=f"{ENDPOINT_WORDS[ep]}: Cox hazard ratios",
                        landmark_months=settings.landmark_months,
                    )
                for spec in out["figs"]:
                    kw = {k: v for k, v in spec.items() if k != "name"}
                    renderer.submit(spec["name"], "km", **kw)

            result, _ = analyse(inputs, settings, on_endpoint=submit, executor=renderer.executor)
            figures = renderer.results()
        km_names = [n for n in figures if not n.startswith("forest_")]
        for name in [*km_names, *(n for n in figures if n.startswith("forest_"))]:
            for fmt, data in figures[name].items():
                rendered[f"{name}.{fmt}"] = data
    names = []
    with output_set(outdir, "survival") as out:  # every file appears at once
        for name, frame in (
            ("km.csv", result.km),
            ("logrank.csv", result.logrank),
            ("cox.csv", result.cox),
            ("ph_test.csv", result.ph),
            *([("founding_study.csv", result.founding)] if result.founding is not None else []),
        ):
            with atomic_write(out / name, "w") as fh:
                fh.write(_csv_bytes(frame))
            names.append(name)
        summary = {
            "inputs": inputs.sources,
            "settings": asdict(settings),
            "patients": len(inputs.clinical),
            "exclusions": result.exclusions,
            "notes": result.notes,
        }
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
        names.append("summary.json")
        for name, data in rendered.items():
            atomic_write_bytes(out / name, data)
            names.append(name)
    result.files = [Path(outdir) / n for n in names]
    return result


def summary_text(result: SurvivalResult) -> str:
    """A short terminal summary: medians, log-rank p and Cox HRs of each analysis."""
    lines = []
    for ep in dict.fromkeys(result.settings.endpoints):
        km = result.km[(result.km["endpoint"] == ep) & (result.km["analysis"] == "naive")]
        allrow = km[km["predictor"] == "all"]
        if len(allrow):
            r = allrow.iloc[0]
            lines.append(
                f"{ep.upper()}: n={r['n']}, events={r['events']}, median "
                f"{_num(r['median_months'])} months "
                f"(95% CI {_num(r['median_ci_low'])}–{_num(r['median_ci_high'])})"
            )
        lr = result.logrank[result.logrank["endpoint"] == ep]
        if len(lr):
            lines.append(
                f"  {'log-rank test':<26}{'analysis':<10}{'p':<9}medians, first - last group"
            )
        for _, r in lr.iterrows():
            lines.append(
                f"  {str(r['predictor'])[:25]:<26}{r['analysis']:<10}{_p(r['p']):<9}"
                f"{_num(r['median_difference_months'])} months"
            )
        cox = result.cox[result.cox["endpoint"] == ep]
        if len(cox):
            lines.append(f"  {'Cox model':<13}hazard ratio (95% CI), p")
        for cov in dict.fromkeys(cox["covariate"]):
            lines.append(f"  {str(cov)[:76]}")
            for _, r in cox[cox["covariate"] == cov].iterrows():
                lines.append(
                    f"    {r['analysis'].replace('_', '-'):<13}HR {r['hr']:.2f} "
                    f"({r['ci_low']:.2f}–{r['ci_high']:.2f}), {_pe(r['p'])}"
                )
        ex = result.exclusions.get(ep, {})
        if ex:
            lines.append(
                f"  {ex['landmark_months']:g}-month landmark: {ex['excluded']} patient(s) "
                f"excluded ({ex['event_before_landmark']} events, "
                f"{ex['censored_before_landmark']} censored before it)"
            )
    if result.founding is not None:
        from recist_tool.survival.founding import founding_text

        lines.append(founding_text(result.founding))
    import textwrap

    for n in result.notes:  # wrapped for an 80-column terminal
        lines += textwrap.wrap(f"note: {n}", 79, subsequent_indent="  ")
    if result.files:
        lines.append(f"wrote {len(result.files)} files to {result.files[0].parent}")
    return "\n".join(lines)


def _num(v: float) -> str:
    return "NR" if not np.isfinite(v) else f"{v:.1f}"


def _pe(p: float) -> str:
    """``p=0.012`` / ``p<0.001`` / ``p n/a``."""
    text = _p(p)
    return f"p{text}" if text.startswith("<") else ("p n/a" if text == "n/a" else f"p={text}")


def _p(p: float) -> str:
    return "n/a" if not np.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")
