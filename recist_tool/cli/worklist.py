"""``recist-tool worklist``: a cohort folder with its worklist, readings and sign-off."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

worklist_app = typer.Typer(
    name="worklist",
    help="A cohort's worklist: studies and time points per patient, readers, status, "
    "sign-off. Layout: docs/pacs.md.",
    no_args_is_help=True,
)
_COHORT = typer.Argument(..., help="The cohort folder.", show_default=False)
_READER = typer.Option(..., "--reader", help="The reader's name (their readings folder).")


def _console():
    from rich.console import Console

    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


@worklist_app.command("init")
def init(
    cohort: Path = _COHORT,
    source: Path | None = typer.Option(
        None, "--from", help="A folder of DICOM studies (every patient under it)."
    ),
    pacs: str | None = typer.Option(None, "--pacs", help="DICOMweb URL to search instead."),
    query: list[str] = typer.Option(
        [],
        "--query",
        help="PACS search, repeatable: patient=ID (wildcards * ?), study-date=RANGE, "
        "or any DICOM keyword=value (e.g. StudyDescription=*CHEST*).",
    ),
    patients: Path | None = typer.Option(
        None, "--patients", help="File of patient IDs (one per line, or a patient_id column)."
    ),
    modality: str = typer.Option("CT", "--modality", help="Studies holding this modality."),
    readers: list[str] = typer.Option(
        [], "--reader", help="A reader (repeat); patients are shared among them in turn."
    ),
    per_patient: int | None = typer.Option(
        None,
        "--readers",
        min=1,
        help="Readers per patient (2: double reading). Without --reader: that many "
        "readers named reader1, reader2, … each read every patient.",
    ),
    assign: Path | None = typer.Option(
        None, "--assign", help="CSV with patient_id, reader (instead of --reader/--readers)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing worklist.csv."),
) -> None:
    """Write COHORT/worklist.csv and COHORT/studies.csv from a folder or a PACS search.

    Each patient's studies are grouped by date into time points; the earliest is the
    baseline (fu1, fu2, … after it). Edit the timepoint column of studies.csv to
    change the proposal. Readers: --reader NAME (repeat) shares the patients among
    them in turn; --readers K gives each patient to K of them (round-robin); --readers
    K alone names K readers reader1 … readerK who each read every patient; --assign
    CSV (patient_id, reader) assigns explicitly. Without readers, the first reader
    to save a patient takes it.
    """
    from recist_tool.worklist import (
        Worklist,
        WorklistError,
        assign_readers,
        from_folder,
        from_pacs,
        read_assignments,
        read_patient_list,
    )

    if (source is None) == (pacs is None):
        raise WorklistError("give --from FOLDER or --pacs URL (one of them)")
    if source is not None and (query or patients):
        raise WorklistError("--query and --patients go with --pacs")
    if assign is not None and (readers or per_patient is not None):
        raise WorklistError("give --assign or --reader/--readers, not both")
    if source is not None:
        studies = from_folder(source, modality or None)
        src = {"kind": "folder", "path": str(source)}
    else:
        from recist_tool.cli.pacs import client

        q = _parse_query(query)
        ids = read_patient_list(patients) if patients else []
        if "patient" in q:
            ids.append(q.pop("patient"))
        date = q.pop("study-date", None)
        with client(pacs) as c:
            studies = from_pacs(c, ids, date, modality or None, q)
            src = {
                "kind": "pacs",
                "url": c.url,
                "query": {"patients": ids, "study_date": date, **q},
            }
    pids = sorted({s.patient_id for s in studies})
    if assign is not None:
        pairs = read_assignments(assign)
    else:
        if per_patient is not None and not readers:
            readers = [f"reader{i + 1}" for i in range(per_patient)]
        pairs = assign_readers(pids, readers, per_patient or 1)
    wl = Worklist.create(cohort, studies, src, pairs, modality or None, replace_existing=force)
    n_tp = sum(len(e.timepoints) for e in wl.entries_)
    typer.echo(
        f"{len(pids)} patient(s), {len(studies)} stud(ies), {len(wl.entries_)} worklist row(s) "
        f"({n_tp} time point(s)) written to {cohort / 'worklist.csv'}"
    )


def _parse_query(items: list[str]) -> dict[str, str]:
    from recist_tool.worklist import WorklistError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise WorklistError(f"--query {item!r}: expected KEY=VALUE, e.g. patient=P001")
        key = key.strip()
        out[key.lower() if key.lower() in ("patient", "study-date") else key] = value.strip()
    return out


@worklist_app.command("status")
def status(
    cohort: Path = _COHORT,
    reader: str | None = typer.Option(None, "--reader", help="List this reader's patients."),
) -> None:
    """Print progress per reader (n of N finished), or one reader's patients."""
    from rich.table import Table

    from recist_tool.worklist import STATUSES, Worklist

    wl = Worklist.open(cohort)
    console = _console()
    if reader is not None:
        table = Table(
            title=f"{reader}: {wl.progress(reader)['finished']} of "
            f"{wl.progress(reader)['total']} finished"
        )
        for col in ("patient", "status", "time points", "signed at"):
            table.add_column(col)
        for e in wl.entries(reader=reader):
            tps = ", ".join(f"{lb} {d}" for lb, d in e.timepoints)
            table.add_row(e.patient_id, e.status, tps, e.signed_at)
        console.print(table)
        return
    table = Table(title=f"worklist of {cohort} ({len(wl.patients())} patients)")
    for col in ("reader", *STATUSES, "finished"):
        table.add_column(col, justify="left" if col == "reader" else "right")
    for r, c in wl.progress_by_reader().items():
        table.add_row(
            r or "(unassigned)", *(str(c[s]) for s in STATUSES), f"{c['finished']} of {c['total']}"
        )
    console.print(table)
    adj = wl.adjudication_progress()
    if adj is not None:
        console.print(
            f"adjudication: {adj['adjudicated']} of {adj['discordant']} discordant patient(s) "
            f"adjudicated; {adj['readings']} adjudicated reading(s) in "
            f"{wl.reading_dir('adjudicated')}"
        )


@worklist_app.command("pull")
def pull(
    cohort: Path = _COHORT,
    patient: list[str] = typer.Option([], "--patient", help="Only this patient (repeat)."),
) -> None:
    """Pull every PACS study of the worklist into COHORT/cache (resumable; checked).

    Reading from the cache afterwards needs no server.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from recist_tool.pacs import PacsClient
    from recist_tool.worklist import Worklist, WorklistError

    wl = Worklist.open(cohort)
    ids = patient or wl.patients()
    unknown = [p for p in ids if p not in wl.patients()]
    if unknown:
        raise WorklistError(f"patient(s) not in the worklist: {', '.join(unknown)}")
    url = wl.source.get("url")
    if not url:
        typer.echo(f"a {wl.source.get('kind', 'folder')} cohort, no PACS: nothing to pull")
        return
    from rich.console import Console

    with (
        PacsClient(url) as c,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
        ) as bar,
    ):
        for pid in ids:
            task = bar.add_task(pid, total=None)
            wl.fetch(
                pid, c, progress=lambda p, t=task: bar.update(t, total=p.total, completed=p.done)
            )
    typer.echo(f"{len(ids)} patient(s) in {wl.cache_dir}")


@worklist_app.command("import")
def import_(
    cohort: Path = _COHORT,
    files: list[Path] = typer.Argument(
        ..., help="Annotation CSVs (with sidecars to keep the lines).", show_default=False
    ),
    reader: str = _READER,
    replace: bool = typer.Option(False, "--replace", help="Overwrite existing readings."),
) -> None:
    """Take annotation files made elsewhere as a reader's readings (one per patient)."""
    from recist_tool.worklist import Worklist

    paths = Worklist.open(cohort).import_annotations(files, reader, replace)
    typer.echo(f"{len(paths)} reading(s) saved in {cohort / 'readings' / reader}")


@worklist_app.command("sign")
def sign(
    cohort: Path = _COHORT,
    patients: list[str] = typer.Argument(None, help="Patient IDs.", show_default=False),
    reader: str = _READER,
    timepoint: str | None = typer.Option(None, "--timepoint", help="Only this time point."),
    all_: bool = typer.Option(False, "--all", help="Every patient the reader has saved."),
) -> None:
    """Sign off readings (a time point, or every time point): they are then locked.

    A time point with a lesion still to assess (no status, or a target's axis not
    drawn) is not signed; the other patients are, and the exit code is non-zero.
    """
    from recist_tool.errors import RecistError
    from recist_tool.worklist import Worklist, WorklistError

    wl = Worklist.open(cohort)
    if all_:
        patients = [
            e.patient_id
            for e in wl.entries(reader=reader)
            if wl.reading_path(e.patient_id, reader).exists()
        ]
    if not patients and all_:
        raise WorklistError(f"{cohort}: reader {reader} has no saved reading to sign")
    if not patients:
        raise WorklistError("name the patients to sign, or --all")
    refused = []
    for pid in patients:
        try:
            e = wl.sign(pid, reader, timepoint)
        except RecistError as exc:
            if len(patients) == 1:
                raise
            typer.echo(f"not signed: {exc}", err=True)
            refused.append(pid)
            continue
        typer.echo(f"{pid}: {e.status}" + (f" at {e.signed_at}" if e.signed_at else ""))
    if refused:
        raise WorklistError(
            f"{len(refused)} of {len(patients)} patient(s) not signed: {', '.join(refused)}"
        )


@worklist_app.command("mark")
def mark(
    cohort: Path = _COHORT,
    patient: str = typer.Argument(..., help="Patient ID.", show_default=False),
    reader: str = _READER,
    status_: str = typer.Option(..., "--status", help="in_progress or done."),
) -> None:
    """Set a patient's status for a reader."""
    from recist_tool.worklist import Worklist

    e = Worklist.open(cohort).mark(patient, reader, status_)
    typer.echo(f"{e.patient_id}: {e.status}")


def register(app: typer.Typer) -> None:
    """Add the ``worklist`` command group."""
    app.add_typer(worklist_app, name="worklist")
