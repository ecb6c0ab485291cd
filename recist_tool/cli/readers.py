"""``recist-tool adjudicate``, ``recist-tool agreement`` and ``recist-tool synth double-read``.

Several readers per patient on the worklist's cohort layout
(``COHORT_DIR/readings/<reader>/<patient>.csv``); see ``docs/readers.md``.
"""

from __future__ import annotations

from pathlib import Path

import typer

ADJUDICATE_HELP = "\n\n".join(
    [
        "Find the patients whose readers disagree, and record the adjudicator's choices.",
        "Every reader's readings in COHORT_DIR/readings/<reader>/ are evaluated with the "
        "RECIST engine (with a worklist, only readings done or signed there); a patient "
        "goes to adjudication when its readers differ on best overall response, on the "
        "first follow-up response, or on progression (one "
        "reader only, or dates more than --pd-window-days apart). Writes "
        "adjudication.csv (the discordant patients, each reader's values and the "
        "reasons), concordance.csv (every patient) and adjudication_rules.json to "
        "COHORT_DIR (or -o).",
        "With --choose PATIENT=READER (or PATIENT@TIMEPOINT=READER) or --decisions CSV, "
        "plus --reason and --adjudicator, the chosen reading is written to "
        "COHORT_DIR/readings/adjudicated/<patient>.csv with provenance columns (reader, "
        "adjudicator, adjudication_reason) and an append-only audit trail "
        "(<patient>.audit.jsonl); 'worklist status' shows how many discordant patients "
        "are adjudicated. --accept-concordant writes the primary reader's reading "
        "for every patient whose readers agree. See docs/readers.md.",
    ]
)
AGREEMENT_HELP = "\n\n".join(
    [
        "Inter-reader agreement of a double-read cohort, for every pair of readers.",
        "Cohen's kappa and linearly weighted kappa (95 % CIs) for best overall response "
        "and per-time-point overall response; ICC(2,1) and Bland-Altman (bias, limits of "
        "agreement, plots) for baseline sum of diameters and % change at the first "
        "follow-up; per-lesion diameter differences for targets both readers chose; the "
        "rate of PD/non-PD discordance. Writes agreement.csv, bland_altman.csv, "
        "lesion_differences.csv, kappa_tables.csv, reader_pairs.csv, the Bland-Altman "
        "plots (PNG, PDF) and summary.json to OUTDIR (default COHORT_DIR/agreement).",
    ]
)
DOUBLE_READ_HELP = "\n\n".join(
    [
        "Write a synthetic cohort read by several readers (blinded double reading).",
        "The truth is the cohort of 'synth cohort' (calibrated to the founding study); "
        "each patient is read by --per-patient of --readers readers (round-robin) with "
        "measurement noise (about 7 % coefficient of variation of a diameter), "
        "occasionally a different target, a non-target progression call or a new lesion "
        "the other reader does not see.",
        "Writes a cohort folder as 'worklist init' makes one (cohort.json, studies.csv, "
        "worklist.csv with the readers assigned and every reading done, so 'worklist "
        "status' reads it) with OUTDIR/readings/<reader>/<patient>.csv, plus clinical.csv, "
        "treatments.csv, truth.csv, truth_annotations.csv, reader_events.csv, "
        "oracle_decisions.csv (a stand-in adjudicator who knows the truth, for demos) and "
        "params.json. See docs/readers.md.",
    ]
)

_COHORT = typer.Argument(
    ..., metavar="COHORT_DIR", help="Cohort folder (readings/<reader>/<patient>.csv inside)."
)


def _settings(confirm: bool, confirm_days: int, sd_min_days: int):
    from recist_tool.response import ResponseSettings

    return ResponseSettings(confirm=confirm, confirm_days=confirm_days, sd_min_days=sd_min_days)


_CONFIRM = typer.Option(False, "--confirm", help="Require confirmation of CR/PR (RECIST).")
_CONFIRM_DAYS = typer.Option(28, "--confirm-days", min=0, help="Days to confirmation.")
_SD_MIN = typer.Option(42, "--sd-min-days", min=0, help="Minimum days for SD to count in BOR.")
_READERS = typer.Option(None, "--reader", help="Only these readers (repeatable; default: all).")
_UNFINISHED = typer.Option(
    False,
    "--include-unfinished",
    help="Count readings the worklist marks not_started or in_progress.",
)


def adjudicate(
    cohort_dir: Path = _COHORT,
    outdir: Path | None = typer.Option(
        None, "-o", "--outdir", help="Where adjudication.csv goes (default: COHORT_DIR)."
    ),
    pd_window_days: int = typer.Option(
        28, "--pd-window-days", min=0, help="Progression dates this many days apart agree."
    ),
    scale: str = typer.Option(
        "exact",
        "--scale",
        help="Compare responses exactly, as responder (CR/PR vs rest) or as "
        "control (CR/PR/SD/NON-CR/NON-PD vs PD/NE).",
    ),
    no_bor: bool = typer.Option(False, "--no-bor", help="Best overall response is not a trigger."),
    no_first_followup: bool = typer.Option(
        False, "--no-first-followup", help="First follow-up response is not a trigger."
    ),
    no_progression: bool = typer.Option(
        False, "--no-progression", help="Progression (presence and date) is not a trigger."
    ),
    choose: list[str] = typer.Option(
        None, "--choose", help="PATIENT=READER or PATIENT@TIMEPOINT=READER (repeatable)."
    ),
    decisions: Path | None = typer.Option(
        None,
        "--decisions",
        help="CSV of decisions: patient_id, reader, reason [, timepoint, adjudicator].",
    ),
    reason: str = typer.Option("", "--reason", help="Reason for the --choose decisions."),
    adjudicator: str = typer.Option("", "--adjudicator", help="Who decides (required to choose)."),
    accept_concordant: bool = typer.Option(
        False,
        "--accept-concordant",
        help="Write the primary reader's reading for every concordant patient.",
    ),
    primary: str | None = typer.Option(
        None, "--primary", help="Primary reader for --accept-concordant (default: first by name)."
    ),
    readers: list[str] = _READERS,
    include_unfinished: bool = _UNFINISHED,
    confirm: bool = _CONFIRM,
    confirm_days: int = _CONFIRM_DAYS,
    sd_min_days: int = _SD_MIN,
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print no summary."),
) -> None:
    from recist_tool.readers.adjudication import (
        accept_concordant as accept,
    )
    from recist_tool.readers.adjudication import (
        adjudicated_path,
        parse_choice,
        read_decisions,
        write_adjudications,
    )
    from recist_tool.readers.cohort import load_cohort
    from recist_tool.readers.discordance import AdjudicationRules, find_discordance

    rules = AdjudicationRules(
        best_response=not no_bor,
        first_followup=not no_first_followup,
        progression=not no_progression,
        pd_window_days=pd_window_days,
        scale=scale,
    )
    chosen = [parse_choice(c, reason, adjudicator) for c in choose or []]
    if decisions is not None:
        chosen += read_decisions(decisions, adjudicator or None)
    cohort = load_cohort(
        cohort_dir,
        _settings(confirm, confirm_days, sd_min_days),
        include_unfinished=include_unfinished,
        readers=readers or None,
    )
    result = find_discordance(cohort, rules)
    files = result.write(outdir or cohort_dir)
    written = write_adjudications(cohort_dir, chosen, cohort) if chosen else []
    auto = accept(cohort_dir, result.summary, cohort, primary) if accept_concordant else []
    if quiet:
        return
    s = result.summary["status"].value_counts()
    typer.echo(
        f"{len(result.summary)} patient(s): {int(s.get('discordant', 0))} discordant, "
        f"{int(s.get('concordant', 0))} concordant, {int(s.get('single_reader', 0))} "
        f"single reader (readers: {', '.join(cohort.readers)})"
    )
    if len(result.adjudication):
        reasons = result.adjudication["reasons"].str.split("; ").explode()
        reasons = reasons.str.replace(
            r"progression dates \d+ days apart.*",
            "progression dates outside the window",
            regex=True,
        )
        for why, n in reasons.value_counts().items():
            typer.echo(f"  {n:4d}  {why}")
    for note in cohort.notes:
        typer.echo(f"note: {note}")
    concordant = set(result.summary.loc[result.summary["status"] != "discordant", "patient_id"])
    for d in chosen:
        if d.patient_id in concordant:
            typer.echo(f"note: {d.patient_id} was not discordant; adjudicated as asked")
    if written or auto:
        typer.echo(
            f"adjudicated: {len(written)} decided, {len(auto)} concordant accepted -> "
            f"{Path(cohort_dir) / 'readings' / 'adjudicated'}"
        )
    pending = [
        p
        for p in result.adjudication["patient_id"]
        if not adjudicated_path(cohort_dir, p).is_file()
    ]
    typer.echo(
        f"wrote {', '.join(p.name for p in files)} to {files[0].parent}; "
        f"{len(pending)} discordant patient(s) awaiting adjudication"
    )


def agreement(
    cohort_dir: Path = _COHORT,
    outdir: Path | None = typer.Option(
        None, "-o", "--outdir", help="Output folder (default: COHORT_DIR/agreement)."
    ),
    tolerance_mm: float = typer.Option(
        15.0, "--tolerance-mm", min=0, help="Largest distance matching two readers' lesions."
    ),
    no_figures: bool = typer.Option(False, "--no-figures", help="Write the tables only."),
    readers: list[str] = _READERS,
    include_unfinished: bool = _UNFINISHED,
    confirm: bool = _CONFIRM,
    confirm_days: int = _CONFIRM_DAYS,
    sd_min_days: int = _SD_MIN,
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print no summary."),
) -> None:
    from recist_tool.readers.agreement import compute_agreement
    from recist_tool.readers.cohort import load_cohort

    cohort = load_cohort(
        cohort_dir,
        _settings(confirm, confirm_days, sd_min_days),
        include_unfinished=include_unfinished,
        readers=readers or None,
    )
    result = compute_agreement(cohort, tolerance_mm=tolerance_mm, figures=not no_figures)
    out = outdir or Path(cohort_dir) / "agreement"
    files = result.write(out)
    if quiet:
        return
    from recist_tool.readers.report import agreement_lines

    for line in agreement_lines(result.agreement, result.bland_altman):
        typer.echo(line)
    for note in result.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {len(files)} files to {out}")


def double_read(
    outdir: Path = typer.Option(..., "-o", "--outdir", help="Cohort folder (created)."),
    n: int = typer.Option(211, "--n", min=1, help="Number of patients."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed (same seed, same cohort)."),
    n_readers: int = typer.Option(2, "--readers", min=1, help="Number of readers."),
    per_patient: int = typer.Option(2, "--per-patient", min=1, help="Readers per patient."),
    sigma_lesion: float = typer.Option(
        0.05, "--sigma-lesion", min=0, help="SD of a reader's log-bias per lesion."
    ),
    sigma_visit: float = typer.Option(
        0.05, "--sigma-visit", min=0, help="SD of the per-visit log measurement error."
    ),
    p_other_target: float = typer.Option(
        0.2, "--p-other-target", min=0, max=1, help="Chance a reader picks another target."
    ),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print no summary."),
) -> None:
    from recist_tool.readers.cohort import ReadersError
    from recist_tool.synth.cohort import CohortParams
    from recist_tool.synth.double_read import ReaderParams, generate_double_read, write_double_read

    if per_patient > n_readers:
        raise ReadersError(f"--per-patient {per_patient} is more than --readers {n_readers}")
    if (Path(outdir) / "readings").exists():
        raise ReadersError(
            f"{outdir}: already holds readings/; write a synthetic cohort into a new folder "
            "(nothing was changed)"
        )
    rp = ReaderParams(
        n_readers=n_readers,
        per_patient=per_patient,
        sigma_reader_lesion=sigma_lesion,
        sigma_visit=sigma_visit,
        p_other_target=p_other_target,
    )
    dr = generate_double_read(CohortParams(n=n), rp, seed=seed)
    files = write_double_read(dr, outdir)
    if not quiet:
        counts = dr.assignments["reader"].value_counts()
        typer.echo(
            f"{n} patients, readers {', '.join(f'{r} ({counts[r]})' for r in rp.names())}; "
            f"{len(dr.events)} reader-specific calls; wrote {len(files)} files to {outdir}"
        )


def register(app: typer.Typer) -> None:
    """Add ``adjudicate``, ``agreement`` and ``synth double-read`` to the app."""
    from recist_tool.cli.synth import synth_app

    app.command("adjudicate", help=ADJUDICATE_HELP, no_args_is_help=True)(adjudicate)
    app.command("agreement", help=AGREEMENT_HELP, no_args_is_help=True)(agreement)
    synth_app.command("double-read", help=DOUBLE_READ_HELP, no_args_is_help=True)(double_read)
