"""``recist-tool batch``: RECIST 1.1 response for whole cohorts."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

# recist_tool.partition.CHUNK_PATIENTS / CHUNK_ROWS (not imported: --help stays fast).
CHUNK_PATIENTS = 20_000
CHUNK_ROWS = 1_000_000

# Paragraphs as single lines: typer's help keeps line breaks as written.
HELP = "\n\n".join(
    [
        "Compute RECIST 1.1 response from annotation CSV or Parquet files (or folders of "
        "them, partitioned Parquet datasets included).",
        "Writes OUTDIR/timepoints.csv (sums, nadir, % change, responses and the reason per "
        "time point), OUTDIR/patients.csv (best overall response, progression, PFS, DoR, "
        "TTR, clinical benefit, tumour growth rate), OUTDIR/endpoints.csv (ORR, DCR, CBR "
        "with exact CIs; DoR, TTR, PFS Kaplan-Meier medians), OUTDIR/messages.csv "
        "(validation warnings/errors) and OUTDIR/settings.json (every convention used); "
        "with --format parquet the tables are .parquet files. They are renamed into place "
        "together when the run succeeds.",
        "--criteria irecist and/or choi add iRECIST (i-prefixed columns) and Choi (choi_ "
        "columns, needs mean_hu) to the same tables.",
        "Cohorts of any size: patients are evaluated in chunks (--chunk-patients), so memory "
        "follows the chunk, not the cohort; input files may be in any row order and the "
        "results do not depend on the chunk size. --executor dask runs the chunks on a Dask "
        "cluster (docs/batch.md).",
        "Bad input stops with a message naming file, line, column and value (exit 2) and "
        "writes nothing; with --keep-going the patients with bad input are left out, listed "
        "in messages.csv as errors, and the exit code is 1. With --strict, baseline rule "
        "violations are errors: those patients are not evaluated and the exit code is 1. "
        "The rules and conventions are in docs/recist.md.",
    ]
)


def batch(
    inputs: list[Path] = typer.Argument(
        ...,
        metavar="INPUTS",
        help="Annotation CSV or Parquet files, or folders.",
        show_default=False,
    ),
    outdir: Path = typer.Option(..., "-o", "--outdir", help="Output folder (created)."),
    confirm: bool = typer.Option(False, "--confirm", help="Require confirmation of CR/PR."),
    confirm_days: int = typer.Option(28, "--confirm-days", min=0, help="Days to confirmation."),
    max_ne: int = typer.Option(
        1, "--max-ne", min=0, help="Under --confirm: NE time points allowed before confirmation."
    ),
    accept_sd: bool = typer.Option(
        False, "--accept-sd", help="Under --confirm: one SD between a PR and its confirmation."
    ),
    sd_min_days: int = typer.Option(
        42, "--sd-min-days", min=0, help="Minimum days from baseline for SD to count in BOR."
    ),
    strict_pr: bool = typer.Option(
        False, "--strict-pr", help="Evaluate PR per time point (default: once PR, PR until PD)."
    ),
    strict: bool = typer.Option(False, "--strict", help="Baseline rule violations are errors."),
    rounding: str = typer.Option(
        "none", "--rounding", help="Per-lesion rounding before summing: none, 0.1 or 1 (mm)."
    ),
    reference_date: str = typer.Option(
        "auto",
        "--reference-date",
        help="Day 0 of SD duration and PFS: auto (randomisation_date, else treatment_date "
        "column, else baseline), baseline, treatment_date or randomisation_date.",
    ),
    criteria: list[str] = typer.Option(
        ["recist"], "--criteria", help="recist, irecist, choi (repeat or comma-separate)."
    ),
    clinical: Path | None = typer.Option(
        None,
        "--clinical",
        help="clinical.csv (patient_id, treatment_date, last_contact_date, death): death "
        "counts as a PFS event.",
    ),
    visit_interval_days: int | None = typer.Option(
        None,
        "--visit-interval-days",
        min=1,
        help="Planned days between assessments (default: each patient's median gap).",
    ),
    max_missed: int = typer.Option(
        2,
        "--max-missed",
        min=0,
        help="PFS: PD or death after this many missed assessments is censored (0: never).",
    ),
    cbr_min_days: int = typer.Option(
        168, "--cbr-min-days", min=0, help="Clinical benefit: SD at least this many days."
    ),
    keep_going: bool = typer.Option(
        False, "--keep-going", help="Leave out patients with bad input (listed in messages.csv)."
    ),
    fmt: str = typer.Option("csv", "--format", help="Result tables as csv or parquet."),
    chunk_patients: int = typer.Option(
        CHUNK_PATIENTS,
        "--chunk-patients",
        min=1,
        help="Patients evaluated together (memory bound; results do not depend on it).",
    ),
    chunk_rows: int = typer.Option(
        CHUNK_ROWS,
        "--chunk-rows",
        min=1,
        help="At most this many rows per chunk (a chunk holds at least one patient).",
    ),
    executor: str = typer.Option(
        "local", "--executor", help="local (this process) or dask (a Dask cluster)."
    ),
    scheduler: str = typer.Option(
        None,
        "--scheduler",
        help="With --executor dask: the scheduler address (tcp://host:8786) or local "
        "(a cluster on this machine, the default).",
    ),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print no summary."),
) -> None:
    from rich.console import Console
    from rich.table import Table

    from recist_tool.batch import response_summary, run_batch
    from recist_tool.response import ResponseSettings

    if rounding not in ("none", "0.1", "1"):
        raise typer.BadParameter("must be none, 0.1 or 1", param_hint="--rounding")
    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter("must be csv or parquet", param_hint="--format")
    if executor not in ("local", "dask"):
        raise typer.BadParameter("must be local or dask", param_hint="--executor")
    if scheduler is not None and executor != "dask":
        raise typer.BadParameter("only with --executor dask", param_hint="--scheduler")
    crit = tuple(c.strip().lower() for item in criteria for c in item.split(",") if c.strip())
    try:
        settings = ResponseSettings(
            sd_min_days=sd_min_days,
            confirm=confirm,
            confirm_days=confirm_days,
            max_ne=max_ne,
            accept_sd=accept_sd,
            strict_pr=strict_pr,
            strict=strict,
            rounding=rounding,  # type: ignore[arg-type]
            reference_date=reference_date,
            criteria=crit,
            visit_interval_days=visit_interval_days,
            max_missed=max_missed,
            cbr_min_days=cbr_min_days,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    result = run_batch(
        inputs,
        outdir,
        settings,
        progress=not quiet,
        clinical=clinical,
        keep_going=keep_going,
        fmt=fmt,
        chunk_patients=chunk_patients,
        chunk_rows=chunk_rows,
        executor=executor,
        scheduler=scheduler,
    )
    console = Console()
    if not console.is_terminal:  # piped or logged: do not squeeze tables to 80 columns
        console = Console(width=160)
    if not quiet and result.evaluation is not None and result.n_patients <= 12:
        console.print(_timepoint_table(result.evaluation))
    if not quiet:
        table = Table(title=f"RECIST 1.1 response, {result.n_patients:,} patient(s)")
        for col in ("response", "best overall", "first follow-up"):
            table.add_column(col, justify="right" if col != "response" else "left")
        for row in response_summary(result).itertuples(index=False):
            table.add_row(row.response, str(row.best_overall), str(row.first_followup))
        console.print(table)
        names = ", ".join(f"{t}.{fmt}" for t in ("timepoints", "patients", "endpoints", "messages"))
        console.print(
            f"{result.n_warnings} warning(s), {result.n_errors} error(s); results in {outdir}/ "
            f"({names}, settings.json)"
        )
    if result.has_errors:
        sys.exit(1)


def _timepoint_table(result):
    """Per time point responses, for a handful of patients: one compact table per
    patient (titled with the patient), so it fits an 80-column terminal."""
    from rich.console import Group
    from rich.table import Table

    tables = []
    frame = result.display_timepoints()
    for pid, rows in frame.groupby("patient_id", sort=False):
        table = Table(
            title=f"{pid}: response per time point",
            box=None,
            padding=(0, 1, 0, 0),
            pad_edge=False,
            header_style="bold underline",
            title_justify="left",
        )
        for col in ("visit", "date", "SOD", "vs base", "vs nadir", "T", "NT", "new",
                    "overall"):  # fmt: skip
            table.add_column(col, no_wrap=True)
        table.caption = "T target, NT non-target response; changes of the sum of diameters (SOD)"
        table.caption_justify = "left"
        for r in rows.itertuples(index=False):
            table.add_row(
                str(r.timepoint),
                str(r.date),
                r.sum,
                r.change_from_baseline,
                r.change_from_nadir,
                str(r.target_response),
                str(r.non_target_response),
                str(r.new_lesions),
                str(r.overall_response),
            )
        tables.append(table)
    return Group(*tables)


def register(app: typer.Typer) -> None:
    """Add ``batch`` to the command line."""
    app.command("batch", help=HELP)(batch)
