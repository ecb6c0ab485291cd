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
    "cox.csv, ph_test.csv, summary.json and Kaplan–Meier and forest figures (PNG and "
    "SVG), all at once with a manifest (recist-run.json). Months = days / 30.4375."
)


def survival(
    clinical: Path = typer.Option(
        ...,
        "--clinical",
        help="clinical.csv: patient_id, treatment_date, last_contact_date, "
        "death and covariates (<covariate>_date: when it became known).",
    ),
    responses: Path = typer.Option(
        None, "--responses", help="patients.csv from `recist-tool batch`."
    ),
    treatments: Path = typer.Option(
        None, "--treatments", help="treatments.csv: patient_id, date (one row per treatment)."
    ),
    outdir: Path = typer.Option(..., "-o", "--outdir", help="Output folder (created)."),
    endpoint: list[str] = typer.Option(["os"], "--endpoint", help="os or pfs; repeat for both."),
    predictor: list[str] = typer.Option(
        None,
        "--predictor",
        help="Predictor to analyse (repeatable; default: all): "
        "imaging_response, n_treatments or a clinical.csv covariate.",
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
    no_figures: bool = typer.Option(False, "--no-figures", help="Write the tables only."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print no summary."),
) -> None:
    from recist_tool.survival import SurvivalSettings, run_survival, summary_text

    settings = SurvivalSettings(
        endpoints=tuple(e.strip().lower() for e in endpoint),
        predictors=list(predictor) if predictor else None,
        landmark_months=landmark_months,
        grouping=grouping,
        rmst_horizon_months=rmst_horizon,
        pfs_death=pfs_death,
        figures=not no_figures,
    )
    result = run_survival(clinical, responses, treatments, outdir, settings)
    if not quiet:
        typer.echo(summary_text(result))


def register(app: typer.Typer) -> None:
    """Add ``recist-tool survival`` to the app."""
    app.command("survival", help=HELP, no_args_is_help=True)(survival)
