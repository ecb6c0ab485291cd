"""``recist-tool batch``: RECIST 1.1 response for whole cohorts."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

# Paragraphs as single lines: typer's help keeps line breaks as written.
HELP = "\n\n".join(
    [
        "Compute RECIST 1.1 response from annotation CSV files (or folders of them).",
        "Writes OUTDIR/timepoints.csv (sums, nadir, % change and responses per time point), "
        "OUTDIR/patients.csv (best overall response, progression date, PFS), "
        "OUTDIR/messages.csv (validation warnings/errors) and OUTDIR/settings.json, all at "
        "once with a manifest (recist-run.json; docs/export.md, Output folders): an "
        "interrupted run or a full disk leaves OUTDIR as it was.",
        "Bad input stops with a message naming file, line, column and value (exit 2) and "
        "writes nothing. With --strict, baseline rule violations are errors: those patients "
        "are not evaluated and the exit code is 1. The rules and conventions are in "
        "docs/recist.md.",
    ]
)


def batch(
    inputs: list[Path] = typer.Argument(
        ..., help="Annotation CSV files or folders.", show_default=False
    ),
    outdir: Path = typer.Option(..., "-o", "--outdir", help="Output folder (created)."),
    confirm: bool = typer.Option(False, "--confirm", help="Require confirmation of CR/PR."),
    confirm_days: int = typer.Option(28, "--confirm-days", min=0, help="Days to confirmation."),
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
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print no summary."),
) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from recist_tool.batch import response_summary, run_batch
    from recist_tool.response import ResponseSettings

    if rounding not in ("none", "0.1", "1"):
        raise typer.BadParameter("must be none, 0.1 or 1", param_hint="--rounding")
    settings = ResponseSettings(
        sd_min_days=sd_min_days,
        confirm=confirm,
        confirm_days=confirm_days,
        strict_pr=strict_pr,
        strict=strict,
        rounding=rounding,  # type: ignore[arg-type]
    )
    result = run_batch(inputs, outdir, settings, progress=not quiet)
    console = Console()
    if not console.is_terminal:  # piped or logged: do not squeeze tables to 80 columns
        console = Console(width=160)
    if not quiet and len(result.patients) <= 12:
        console.print(_timepoint_table(result))
    if not quiet:
        table = Table(title=f"RECIST 1.1 response, {len(result.patients)} patient(s)")
        for col in ("response", "best overall", "first follow-up"):
            table.add_column(col, justify="right" if col != "response" else "left")
        for row in response_summary(result).itertuples(index=False):
            table.add_row(row.response, str(row.best_overall), str(row.first_followup))
        console.print(table)
        n_warn = int((result.messages["severity"] == "warning").sum())
        n_err = int((result.messages["severity"] == "error").sum())
        console.print(
            f"{n_warn} warning(s), {n_err} error(s); results in {escape(str(outdir))}/ "
            "(timepoints.csv, patients.csv, messages.csv, settings.json)",
            highlight=False,
        )
    if result.has_errors:
        sys.exit(1)


def _timepoint_table(result):
    """Per time point responses, for a handful of patients."""
    from rich.table import Table

    def num(v, fmt="{:g}"):
        return "" if v != v else fmt.format(v)  # NaN -> empty

    from rich.markup import escape

    table = Table(title="Response per time point")
    for col in ("patient", "time point", "date", "SOD mm", "vs baseline", "vs nadir",
                "target", "non-target", "new", "overall"):  # fmt: skip
        table.add_column(col)
    for r in result.timepoints.itertuples(index=False):
        cells = (
            str(r.patient_id),
            str(r.timepoint),
            str(r.date)[:10],
            num(r.sum_mm),
            num(r.change_from_baseline_pct, "{:+.1f} %"),
            num(r.change_from_nadir_pct, "{:+.1f} %"),
            str(r.target_response),
            str(r.non_target_response),
            str(r.new_lesions),
            str(r.overall_response),
        )
        table.add_row(*(escape(c) for c in cells))  # user text: "[/]" prints as typed
    return table


def register(app: typer.Typer) -> None:
    """Add ``batch`` to the command line."""
    app.command("batch", help=HELP)(batch)
