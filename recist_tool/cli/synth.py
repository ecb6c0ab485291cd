"""``recist-tool synth``: synthetic data (the cohort calibrated to the founding study)."""

from __future__ import annotations

from pathlib import Path

import typer

COHORT_HELP = (
    "Write a synthetic cohort calibrated to the founding study (211 patients, 125 "
    "with a ~3-month CT, imaging response/stable/progression 20/60/20 %, symptomatic "
    "response 71 %, biochemical 34/48/18 %, median OS 29 months).\n\n"
    "Writes DIR/annotations.csv (lesion measurements at baseline, ~3 months and later "
    "scans), clinical.csv, treatments.csv, truth.csv (the generating values) and "
    "params.json. See docs/synthetic_cohort.md."
)

synth_app = typer.Typer(
    name="synth", help="Generate synthetic data.", no_args_is_help=True, add_completion=False
)


@synth_app.command("cohort", help=COHORT_HELP, no_args_is_help=True)
def cohort(
    outdir: Path = typer.Option(..., "-o", "--outdir", help="Output folder (created)."),
    n: int = typer.Option(211, "--n", min=1, help="Number of patients."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed (same seed, same cohort)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print no summary."),
) -> None:
    from recist_tool.synth.cohort import CohortParams, generate_cohort, write_cohort

    c = generate_cohort(CohortParams(n=n), seed=seed)
    files = write_cohort(c, outdir)
    if not quiet:
        cl = c.clinical
        n_ct = int((c.truth["imaging_response"] != "").sum())
        typer.echo(
            f"{n} patients ({n_ct} with a follow-up CT, {int(cl['death'].sum())} deaths, "
            f"{len(c.annotations)} annotation rows); wrote {len(files)} files to {outdir}"
        )


@synth_app.command("studies", no_args_is_help=True)
def studies(
    outdir: Path = typer.Option(..., "-o", "--outdir", help="Output folder (created)."),
    n: int = typer.Option(5, "--n", min=1, help="Number of patients."),
    seed: int = typer.Option(13, "--seed", min=0, help="Random seed (same seed, same files)."),
) -> None:
    """Write a demo cohort of DICOM studies: per patient a baseline and a follow-up CT.

    OUTDIR/dicom/<patient>/{baseline,followup}/ (small synthetic CT series, each its
    own study), OUTDIR/readings/<patient>.csv + .json (the true measurements, with
    their lines: a stand-in for a reader's work) and OUTDIR/clinical.csv (treatment,
    last contact, death; for 'recist-tool survival'). Responses PR, SD, PD, PD (new
    lesion), CR, repeating. For the worklist, PACS and double-reading flows of
    docs/pacs.md and docs/readers.md.
    """
    from recist_tool.synth.demo import write_demo_cohort

    patients = write_demo_cohort(outdir, n=n, seed=seed)
    typer.echo(
        f"{len(patients)} patients ({', '.join(p.response for p in patients[:5])}"
        f"{', …' if len(patients) > 5 else ''}) written to {outdir}/dicom, {outdir}/readings "
        f"and {outdir}/clinical.csv"
    )


@synth_app.command("calibration")
def calibration(
    seeds: int = typer.Option(50, "--seeds", min=1, help="Cohorts (seeds 0, 1, ...)."),
    n: int = typer.Option(211, "--n", min=20, help="Patients per cohort."),
) -> None:
    """Compare synthetic cohorts with the founding study's four OS comparisons.

    For seeds 0 .. SEEDS-1, generates a cohort of N patients and makes the paper's
    comparisons on it (naive and landmark); prints the average median difference
    against the published one (target: within 20 %) and the mean log-rank p against
    the published bound. The table in docs/synthetic_cohort.md comes from this.
    """
    from recist_tool.synth.calibration import calibration_table
    from recist_tool.synth.cohort import CohortParams

    table = calibration_table(CohortParams(n=n), seeds=range(seeds))
    typer.echo(f"{seeds} cohorts of {n} patients; OS median differences in months")
    typer.echo(f"{'comparison':<13}{'paper':>6}{'mean':>7}{'SD':>6}  {'±20%':<5}"
               f"{'p bound':>8}{'mean p':>10}{'p<bound':>8}{'landmark':>9}")  # fmt: skip
    for r in table.itertuples(index=False):
        typer.echo(
            f"{r.comparison:<13}{r.published_months:>+6.0f}{r.mean_difference:>+7.1f}"
            f"{r.sd_difference:>6.1f}  {'yes' if r.within_20pct else 'NO':<5}"
            f"{r.p_bound:>8g}{r.mean_p:>10.1e}{r.share_p_below:>7.0%} "
            f"{r.landmark_mean_difference:>+8.1f}"
        )


def register(app: typer.Typer) -> None:
    """Add the ``recist-tool synth`` group (``synth cohort``, ``synth studies``) to the app.

    Other synthetic generators register further commands on :data:`synth_app`.
    """
    app.add_typer(synth_app, name="synth")
