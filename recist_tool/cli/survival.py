"""``recist-tool survival``: link RECIST response to Kaplan–Meier and Cox models."""

from __future__ import annotations

from pathlib import Path

import typer

HELP = (
    "Kaplan–Meier, log-rank and Cox models of survival by response (naive, landmark "
    "and time-varying analyses).\n\n"
    "Time zero is treatment_date in clinical.csv; OS ends at last_contact_date (death "
    "when death is 1); PFS ends at the RECIST progression date in patients.csv "
    "(censored at the last evaluable scan). Writes OUTDIR/km.csv, logrank.csv, "
    "cox.csv, ph_test.csv, founding_study.csv (the founding study's four comparisons "
    "with the published figures), summary.json and Kaplan–Meier and forest figures "
    "(PNG at 300 dpi and SVG; vector PDF with embedded TrueType fonts with "
    "--figure-format pdf), all at once with a manifest (recist-run.json). "
    "Months = days / 30.4375.\n\n"
    "Several response sources (e.g. readers): --responses NAME=PATH, repeated, where PATH "
    "is a patients.csv, a batch output folder or a folder of annotation CSVs "
    "(COHORT_DIR/readings/<reader>); each analysis runs per source into OUTDIR/NAME/ and "
    "by_source_km.csv, by_source_logrank.csv, by_source_cox.csv and "
    "forest_by_source_<endpoint> put them side by side (docs/readers.md)."
)


def survival(
    clinical: Path = typer.Option(
        ...,
        "--clinical",
        help="clinical.csv: patient_id, treatment_date, last_contact_date, "
        "death and covariates (<covariate>_date: when it became known).",
    ),
    responses: list[str] = typer.Option(
        None,
        "--responses",
        help="patients.csv from `recist-tool batch`; or NAME=PATH, repeatable, one per "
        "response source (reader).",
    ),
    treatments: Path = typer.Option(
        None, "--treatments", help="treatments.csv: patient_id, date (one row per treatment)."
    ),
    outdir: Path = typer.Option(..., "-o", "--outdir", help="Output folder (created)."),
    endpoint: list[str] = typer.Option(["os"], "--endpoint", help="os or pfs; repeat for both."),
    predictor: list[str] = typer.Option(
        None,
        "--predictor",
        help="Predictor to analyse (repeatable; default: all but tgr): "
        "imaging_response, n_treatments, tgr (tumour growth rate from patients.csv, "
        "split at --tgr-cutoff) or a clinical.csv covariate.",
    ),
    landmark_months: float = typer.Option(3.0, "--landmark-months", help="Landmark (months)."),
    grouping: str = typer.Option(
        "three",
        "--grouping",
        help="Response groups: three (response/stable/progression), "
        "control (response+stable vs progression) or response (response vs no response).",
    ),
    rmst_horizon: float = typer.Option(
        None,
        "--rmst-horizon",
        help="RMST horizon in months (default: per predictor, the "
        "shortest of its groups' longest follow-up).",
    ),
    pfs_death: bool = typer.Option(
        False, "--pfs-death", help="Count death without recorded progression as a PFS event."
    ),
    tgr_cutoff: float = typer.Option(
        0.8, "--tgr-cutoff", help="TGR groups: below / at or above this %/month (GREPONET 0.8)."
    ),
    no_figures: bool = typer.Option(False, "--no-figures", help="Write the tables only."),
    figure_format: list[str] = typer.Option(
        None,
        "--figure-format",
        help="Figure formats, repeatable or comma-separated: png (300 dpi), svg, pdf "
        "(vector, embedded TrueType fonts: for journals). Default: png,svg.",
    ),
    ci: bool = typer.Option(
        True, "--ci/--no-ci", help="Draw the 95 % confidence bands of the Kaplan–Meier curves."
    ),
    founding: bool = typer.Option(
        True,
        "--founding/--no-founding",
        help="Add the founding study's four OS comparisons next to the published figures "
        "(founding_study.csv; docs/survival.md).",
    ),
    bootstrap: int = typer.Option(
        1000, "--bootstrap", help="Bootstrap resamples of each median difference's CI."
    ),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print no summary."),
) -> None:
    from recist_tool.survival import SurvivalSettings, run_survival, summary_text
    from recist_tool.survival.by_source import parse_source

    settings = SurvivalSettings(
        endpoints=tuple(e.strip().lower() for e in endpoint),
        predictors=list(predictor) if predictor else None,
        landmark_months=landmark_months,
        grouping=grouping,
        rmst_horizon_months=rmst_horizon,
        pfs_death=pfs_death,
        tgr_cutoff=tgr_cutoff,
        figures=not no_figures,
        formats=_formats(figure_format),
        ci_bands=ci,
        founding=founding,
        bootstrap=bootstrap,
    )
    sources = list(responses or [])
    if len(sources) > 1 or any(parse_source(r)[0] for r in sources):
        _by_source(clinical, sources, treatments, outdir, settings, quiet)
        return
    result = run_survival(clinical, sources[0] if sources else None, treatments, outdir, settings)
    if not quiet:
        typer.echo(summary_text(result))


def _formats(given: list[str] | None) -> tuple[str, ...]:
    """``--figure-format png --figure-format pdf`` or ``png,pdf`` -> ("png", "pdf")."""
    from recist_tool.survival.pipeline import SurvivalSettings

    if not given:
        return SurvivalSettings().formats
    words = [w.strip().lower() for text in given for w in text.split(",") if w.strip()]
    return tuple(dict.fromkeys(words))


def _by_source(clinical, sources, treatments, outdir, settings, quiet) -> None:
    from recist_tool.survival.by_source import parse_source, run_survival_by_source
    from recist_tool.survival.inputs import SurvivalInputError

    named: dict[str, str] = {}
    for text in sources:
        name, path = parse_source(text)
        if name is None:
            raise SurvivalInputError(
                f"--responses {text}: with several sources, name each as NAME=PATH"
            )
        if name in named:
            raise SurvivalInputError(f"--responses: source {name!r} given twice")
        named[name] = path
    res = run_survival_by_source(clinical, named, treatments, outdir, settings)
    if quiet:
        return
    cox = res.cox
    for ep in dict.fromkeys(settings.endpoints):
        typer.echo(f"{ep.upper()}: Cox hazard ratios by response source")
        sub = cox[(cox["endpoint"] == ep) & cox["covariate"].str.startswith("imaging_response")]
        for r in sub.itertuples(index=False):
            typer.echo(
                f"  {r.source:<14} {r.analysis:<13} {r.covariate:<44} HR {r.hr:.2f} "
                f"({r.ci_low:.2f}-{r.ci_high:.2f}) p={r.p:.3g}"
            )
    typer.echo(f"wrote {len(res.files)} combined files and one folder per source to {outdir}")


def register(app: typer.Typer) -> None:
    """Add ``recist-tool survival`` to the app."""
    app.command("survival", help=HELP, no_args_is_help=True)(survival)
