"""``recist-tool pacs``: search, pull and push over DICOMweb (QIDO-RS, WADO-RS, STOW-RS).

Credentials come from ``RECIST_PACS_USER`` / ``RECIST_PACS_PASSWORD`` (basic),
``RECIST_PACS_TOKEN`` (bearer) or the config file (see docs/pacs.md); they are never
taken on the command line, where other users could read them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

pacs_app = typer.Typer(
    name="pacs",
    help="Search, pull and push DICOM over DICOMweb (credentials: RECIST_PACS_USER / "
    "RECIST_PACS_PASSWORD, RECIST_PACS_TOKEN, or the config file; see docs/pacs.md).",
    no_args_is_help=True,
)

URL_ARG = typer.Argument(
    ..., help="DICOMweb root, e.g. http://localhost:8042/dicom-web.", show_default=False
)
_CA = typer.Option(
    None, "--ca-bundle", help="PEM file of certificate authorities to trust (TLS is verified)."
)
_TIMEOUT = typer.Option(60.0, "--timeout", min=0.1, help="Seconds to wait for an answer.")
_RETRIES = typer.Option(
    3, "--attempts", min=1, help="Tries of a search or retrieval (never of a store)."
)


def client(url: str, ca_bundle: Path | None = None, timeout: float = 60.0, attempts: int = 3):
    """A :class:`~recist_tool.pacs.PacsClient` from the common command-line options."""
    from recist_tool.pacs import PacsClient, PacsSettings

    return PacsClient(
        PacsSettings(
            url,
            ca_bundle=str(ca_bundle) if ca_bundle else None,
            timeout=timeout,
            attempts=attempts,
        )
    )


def _console(err: bool = False):
    from rich.console import Console

    return Console(stderr=err, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


@pacs_app.command("find")
def find(
    url: str = URL_ARG,
    patient: str | None = typer.Option(None, "--patient", help="PatientID (wildcards * ?)."),
    study_date: str | None = typer.Option(
        None,
        "--study-date",
        help="A date or range: 2024-01-01, 2024-01-01..2024-03-31, 2024-01-01.., "
        "..2024-03-31 or 20240101-20240331.",
    ),
    modality: str | None = typer.Option(None, "--modality", help="e.g. CT."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most N studies."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ca_bundle: Path | None = _CA,
    timeout: float = _TIMEOUT,
    attempts: int = _RETRIES,
) -> None:
    """Search studies (QIDO-RS)."""
    with client(url, ca_bundle, timeout, attempts) as c:
        studies = c.find_studies(patient, study_date, modality, limit=limit)
    if as_json:
        typer.echo(json.dumps([s.to_dict() for s in studies], indent=2))
        return
    from rich.table import Table

    table = Table(title=f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} on {c.url}")
    for col in ("patient", "date", "modalities", "description", "series", "images", "study UID"):
        table.add_column(col, overflow="fold")
    for s in studies:
        table.add_row(
            s.patient_id,
            s.study_date,
            "/".join(s.modalities),
            s.description,
            "" if s.series_count is None else str(s.series_count),
            "" if s.instance_count is None else str(s.instance_count),
            s.study_uid,
        )
    _console().print(table)


@pacs_app.command("series")
def series(
    url: str = URL_ARG,
    study_uid: str = typer.Argument(..., help="StudyInstanceUID.", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ca_bundle: Path | None = _CA,
    timeout: float = _TIMEOUT,
    attempts: int = _RETRIES,
) -> None:
    """List the series of a study (QIDO-RS)."""
    from recist_tool.pacs import PacsError

    with client(url, ca_bundle, timeout, attempts) as c:
        found = c.find_series(study_uid)
    if not found:
        raise PacsError(f"study {study_uid} not found on {c.url}")
    if as_json:
        typer.echo(json.dumps([s.to_dict() for s in found], indent=2))
        return
    from rich.table import Table

    table = Table(title=f"{len(found)} series of study {study_uid}")
    for col in ("#", "modality", "description", "images", "series UID"):
        table.add_column(col, overflow="fold")
    for s in found:
        table.add_row(
            "" if s.series_number is None else str(s.series_number),
            s.modality,
            s.description,
            "" if s.instance_count is None else str(s.instance_count),
            s.series_uid,
        )
    _console().print(table)


@pacs_app.command("pull")
def pull(
    url: str = URL_ARG,
    study_uid: str = typer.Argument(..., help="StudyInstanceUID.", show_default=False),
    outdir: Path = typer.Option(
        ..., "-o", "--outdir", help="Cache folder; the study goes to OUTDIR/<StudyInstanceUID>/."
    ),
    series_uids: list[str] = typer.Option([], "--series", help="Only this series (repeat)."),
    modality: str | None = typer.Option(None, "--modality", help="Only series of it, e.g. CT."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bar or summary."),
    ca_bundle: Path | None = _CA,
    timeout: float = _TIMEOUT,
    attempts: int = _RETRIES,
) -> None:
    """Retrieve a study (WADO-RS) into a local cache: resumable, every instance checked.

    Instances already in the cache (and intact) are skipped; a broken pull is resumed
    by running the same command again. The pulled series are then checked as
    'dicom ls' does (missing slices, mixed geometry, …) and problems are printed.
    """
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from recist_tool.pacs import pull_study

    with client(url, ca_bundle, timeout, attempts) as c:
        if quiet:
            res = pull_study(c, study_uid, outdir, series_uids or None, modality)
        else:
            with Progress(
                TextColumn("pull"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("instances"),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=_console(err=True),
                transient=False,
            ) as bar:
                task = bar.add_task("pull", total=None)

                def show(p) -> None:
                    bar.update(task, total=p.total, completed=p.done)

                res = pull_study(c, study_uid, outdir, series_uids or None, modality, show)
    if quiet:
        return
    console = _console()
    console.print(
        f"{res.total} instance(s) in {res.folder}: {res.fetched} fetched "
        f"({res.bytes_fetched / 1e6:.1f} MB), {res.already_cached} already cached"
        + (f", {res.refetched} damaged cached file(s) fetched again" if res.refetched else ""),
        highlight=False,
    )
    _report_series(res.folder, console)


def _report_series(folder: Path, console) -> None:
    """Print what 'dicom ls' would flag in the pulled series."""
    import warnings

    from recist_tool.dicom import scan
    from recist_tool.errors import RecistError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            infos = scan(folder)
        except RecistError as exc:
            console.print(f"[yellow]warning:[/] {exc}", highlight=False)
            return
    for s in infos:
        label = f"#{s.series_number} {s.series_description!r}"
        if s.problem:
            console.print(f"[yellow]series {label}: {s.problem}[/]", highlight=False)
        else:
            console.print(f"series {label}: {s.frame_count} images, loadable", highlight=False)
    for w in caught:
        console.print(f"[yellow]warning:[/] {w.message}", highlight=False)


@pacs_app.command("push")
def push(
    url: str = URL_ARG,
    files: list[Path] = typer.Argument(..., help="DICOM files or folders.", show_default=False),
    ca_bundle: Path | None = _CA,
    timeout: float = _TIMEOUT,
) -> None:
    """Store DICOM files on the server (STOW-RS), in batches; never retried."""
    from recist_tool.pacs import push_files

    with client(url, ca_bundle, timeout, 1) as c:
        res = push_files(c, files)
    console = _console()
    for f, why in res.skipped:
        console.print(f"[yellow]skipped {f}: {why}[/]", highlight=False)
    console.print(f"stored {len(res.stored)} instance(s) on {c.url}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``pacs`` command group."""
    app.add_typer(pacs_app, name="pacs")
