"""``recist-tool export …`` and ``recist-tool import sr``: tables, figures, SR, reports.

Every export leaves out patient names, birth dates and other direct identifiers.
Each command writes its files as one output set: they appear in OUTDIR together
(with a manifest, ``recist-run.json``), replacing the previous run's set there and
keeping any other file; an interrupted or failed run leaves OUTDIR as it was.
``--deidentify`` also replaces patient IDs by keyed pseudonyms (HMAC-SHA256 with
``--secret``, or the ``RECIST_DEID_SECRET`` environment variable), shifts each
patient's dates by a constant and, for DICOM, applies the PS3.15 Basic Profile with
consistent UID replacement.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

export_app = typer.Typer(
    name="export",
    help="Export results: tables (Excel, Parquet), figures, DICOM SR and SEG, reports.",
    no_args_is_help=True,
)
import_app = typer.Typer(
    name="import", help="Import measurements from other formats.", no_args_is_help=True
)

INPUTS_HELP = (
    "A batch output folder (with timepoints.csv), optionally followed by the run's "
    "annotation CSVs; or annotation CSV files/folders (evaluated with default settings)."
)
_DEID = typer.Option(
    False, "--deidentify", help="Pseudonymise patient IDs and shift dates (needs --secret)."
)
_SECRET = typer.Option(
    None,
    "--secret",
    envvar="RECIST_DEID_SECRET",
    help="Secret key of the pseudonyms (or env RECIST_DEID_SECRET). Keep it to reproduce them.",
    show_default=False,
)
_OUT = typer.Option(..., "-o", "--outdir", help="Output folder (created).")
# Arguments and options of the commands that read annotation files with their images
# (sr, seg, patient-report): declared once so their help texts stay the same.
_READINGS = typer.Argument(
    ...,
    metavar="ANNOTATIONS",
    help="Annotation CSVs with their JSON sidecars (one patient each).",
    show_default=False,
)
_DICOM = typer.Option(..., "--dicom", help="Folder(s) with the images.")
_TIMEPOINTS = typer.Option([], "--timepoint", help="Only these time points.")
_IDENTITY = typer.Option(
    False,
    "--include-identity",
    help="Copy patient name, birth date, accession number from the images (for PACS).",
)


def _deid(deidentify: bool, secret: str | None):
    from recist_tool.export.deid import DeidentificationError, Deidentifier

    if not deidentify:
        if secret:
            raise DeidentificationError("--secret given without --deidentify")
        return None
    return Deidentifier(secret or "")


def _results(inputs: list[Path], deid):
    from recist_tool.export.tables import load_any

    results = load_any(inputs)
    return results.deidentified(deid) if deid is not None else results.without_identifiers()


def _done(paths: list[Path]) -> None:
    for p in paths:
        typer.echo(str(p))


@contextlib.contextmanager
def _output(outdir: Path, kind: str):
    """Write a command's files as one output set (:mod:`recist_tool._outputs`): into a
    staging folder, swapped in at the end; then print their final paths.

    Yields ``(stage, paths)``: write into ``stage`` and append each file to ``paths``;
    after the block ``paths`` holds the files' final paths.
    """
    from recist_tool._outputs import output_set

    paths: list[Path] = []
    with output_set(outdir, kind) as stage:
        yield stage, paths
        final = [outdir / Path(p).relative_to(stage) for p in paths]
    paths[:] = final
    _done(paths)


@export_app.command("tables")
def tables(
    inputs: list[Path] = typer.Argument(
        ..., metavar="INPUTS", help=INPUTS_HELP, show_default=False
    ),
    outdir: Path = _OUT,
    formats: list[str] = typer.Option(
        ["xlsx", "parquet", "csv"], "--format", "-f", help="xlsx, parquet and/or csv."
    ),
    deidentify: bool = _DEID,
    secret: str | None = _SECRET,
) -> None:
    """Write the results as Excel (sheet per table + settings), Parquet and CSV.

    The per-lesion long table (lesion × time point, size and change) is added when
    the annotations are known.
    """
    from recist_tool.export import ExportError
    from recist_tool.export.tables import write_csv, write_excel, write_parquet

    bad = [f for f in formats if f not in ("xlsx", "parquet", "csv")]
    if bad:
        raise ExportError(f"unknown format {', '.join(bad)} (expected xlsx, parquet or csv)")
    results = _results(inputs, _deid(deidentify, secret))
    with _output(outdir, "export tables") as (stage, paths):
        if "xlsx" in formats:
            paths.append(write_excel(results, stage / "results.xlsx"))
        if "parquet" in formats:
            paths += write_parquet(results, stage)
        if "csv" in formats:
            paths += write_csv(results, stage)


@export_app.command("plots")
def plots(
    inputs: list[Path] = typer.Argument(
        ..., metavar="INPUTS", help=INPUTS_HELP, show_default=False
    ),
    outdir: Path = _OUT,
    treatments: Path | None = typer.Option(
        None, "--treatments", help="CSV with patient_id, date of each treatment (swimmer)."
    ),
    deidentify: bool = _DEID,
    secret: str | None = _SECRET,
) -> None:
    """Draw the waterfall, spider and swimmer plots (PNG and SVG)."""
    from recist_tool.export.plots import response_figures, save_figure

    deid = _deid(deidentify, secret)
    results = _results(inputs, deid)
    tr = _treatments(treatments, deid)
    with _output(outdir, "export plots") as (stage, paths):
        for name, fig in response_figures(results.timepoints, results.patients, tr).items():
            paths += save_figure(fig, stage / name)


def _readings(paths: list[Path]) -> list:
    """Readings from annotation CSVs: with a sidecar, the reader's full work (lines);
    without, one reading per patient of the file (sizes only)."""
    from recist_tool.annotations import read_annotations
    from recist_tool.reading import Reading, sidecar_path

    out = []
    for p in paths:
        if sidecar_path(p).is_file():
            out.append(Reading.load(p))
            continue
        frame = read_annotations(p)
        for _, rows in frame.groupby(frame["patient_id"].astype(str), sort=True):
            out.append(Reading.from_frame(rows))
    return out


def _treatments(path: Path | None, deid):
    import pandas as pd

    from recist_tool.export import ExportError

    if path is None:
        return None
    try:
        frame = pd.read_csv(path, dtype={"patient_id": str})
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: cannot read treatments: {exc}") from exc
    missing = {"patient_id", "date"} - set(frame.columns)
    if missing:
        raise ExportError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    from recist_tool.annotations import parse_date

    bad = [
        f"{path}: line {i + 2}: column date: {d!r}: not a date in the form YYYY-MM-DD"
        for i, d in enumerate(frame["date"].astype(str).str.strip())
        if parse_date(d) is None
    ]
    if bad:
        more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise ExportError("bad treatments input:\n  " + "\n  ".join(bad[:20]) + more)
    return deid.frame(frame) if deid is not None else frame


@export_app.command("sr")
def sr(
    annotations: list[Path] = _READINGS,
    dicom: list[Path] = _DICOM,
    outdir: Path = _OUT,
    timepoint: list[str] = _TIMEPOINTS,
    include_identity: bool = _IDENTITY,
    include_free_text: bool = typer.Option(
        False,
        "--include-free-text",
        help="Also copy the images' free-text fields (study description, patient comments "
        "and history, institution, station, device serial number).",
    ),
    push: str | None = typer.Option(
        None,
        "--push",
        help="Also store the SRs on this DICOMweb server (STOW-RS), in the study of their "
        "images with the images' patient and study attributes (implies --include-identity).",
    ),
    deidentify: bool = _DEID,
    secret: str | None = _SECRET,
) -> None:
    """Write one DICOM SR (TID 1500, Comprehensive 3D) per patient and time point.

    Each lesion is a measurement group OHIF v3 opens as an editable measurement
    (bidirectional or length tool, an arrow for a point marker; labelled with the
    lesion ID); the lesion keeps one Tracking Unique Identifier at every time point.

    With --push URL the SRs are also stored on the PACS, each in the study of the
    images it measures: the study must be on the server under the same PatientID
    (else nothing is stored).
    """
    from recist_tool.export.sr import export_readings, numbers_only

    deid = _deid(deidentify, secret)
    if deid is not None and (include_identity or push):
        from recist_tool.export.deid import DeidentificationError

        raise DeidentificationError(
            "--deidentify excludes --include-identity and --push (a PACS keeps the identity)"
        )
    if deid is not None and include_free_text:
        from recist_tool.export.deid import DeidentificationError

        raise DeidentificationError("--include-free-text and --deidentify exclude each other")
    readings = _readings(annotations)
    for message in numbers_only(readings):
        typer.echo(f"warning: {message}", err=True)
    with _output(outdir, "export sr") as (stage, paths):
        paths += export_readings(
            readings,
            dicom,
            stage,
            timepoints=timepoint or None,
            include_identity=include_identity or push is not None,
            deid=deid,
            include_free_text=include_free_text,
        )
    if push is not None:
        from recist_tool.cli.pacs import client
        from recist_tool.pacs import check_target_study, push_files

        with client(push) as c:
            check_target_study(c, paths)
            res = push_files(c, paths, strict=True)
        typer.echo(f"stored {len(res.stored)} SR(s) on {c.url}", err=True)


@export_app.command("seg")
def seg(
    annotations: list[Path] = _READINGS,
    dicom: list[Path] = _DICOM,
    outdir: Path = _OUT,
    timepoint: list[str] = _TIMEPOINTS,
    all_lesions: bool = typer.Option(
        False, "--all", help="Segment every lesion with a drawn axis, not only assisted ones."
    ),
    no_sr: bool = typer.Option(False, "--no-sr", help="Write the SEG only, without its SR."),
    include_identity: bool = _IDENTITY,
    deidentify: bool = _DEID,
    secret: str | None = _SECRET,
) -> None:
    """Write lesion segmentations as DICOM SEG, with a TID 1500 SR that references them.

    Each assisted measurement is segmented again from its axes (the same method as
    the plugin's proposal); one SEG per patient and time point (a segment per lesion)
    and an SR with the axes and each lesion's volume and mean HU (3D Slicer's
    Quantitative Reporting loads the pair).
    """
    from recist_tool.export.seg import export_segmentations

    deid = _deid(deidentify, secret)
    if deid is not None and include_identity:
        from recist_tool.export.deid import DeidentificationError

        raise DeidentificationError("--include-identity and --deidentify exclude each other")
    readings = _readings(annotations)
    with _output(outdir, "export seg") as (stage, paths):
        result = export_segmentations(
            readings,
            dicom,
            stage,
            timepoints=timepoint or None,
            include_identity=include_identity,
            deid=deid,
            all_lesions=all_lesions,
            with_sr=not no_sr,
        )
        for note in result.notes:
            typer.echo(f"note: {note}", err=True)
        paths += result.paths


@export_app.command("dicom")
def dicom_deid(
    inputs: list[Path] = typer.Argument(
        ..., metavar="INPUTS", help="DICOM files or folders.", show_default=False
    ),
    outdir: Path = _OUT,
    secret: str | None = _SECRET,
) -> None:
    """De-identify DICOM images (PS3.15 Basic Profile; needs --secret).

    UIDs, pseudonyms and date shifts are the same as those of 'export sr
    --deidentify' with the same secret, so the SRs' references stay valid.
    """
    from recist_tool._outputs import output_set
    from recist_tool.export.deid import Deidentifier, deidentify_files

    with output_set(outdir, "export dicom") as stage:
        paths = deidentify_files(inputs, stage, Deidentifier(secret or ""))
    typer.echo(f"{len(paths)} file(s) written to {outdir}")


@export_app.command("cdisc")
def cdisc(
    results: Path = typer.Argument(
        ...,
        metavar="RESULTS",
        help="Output folder of recist-tool batch (timepoints.csv, patients.csv).",
        show_default=False,
    ),
    annotations: list[Path] = typer.Argument(
        ...,
        metavar="ANNOTATIONS",
        help="The run's annotation CSV files or folders.",
        show_default=False,
    ),
    outdir: Path = _OUT,
    studyid: str = typer.Option("RECIST", "--studyid", help="STUDYID of every record."),
    deidentify: bool = _DEID,
    secret: str | None = _SECRET,
) -> None:
    """Write SDTM TU, TR, RS and ADaM ADRS as CSV and SAS transport (XPT v5).

    Responses, sums and dates come from the batch results, sizes from the
    annotations; variables are described in docs/cdisc.md.
    """
    from recist_tool.export import ExportError
    from recist_tool.export.cdisc import build_cdisc, write_cdisc

    if not (results / "timepoints.csv").is_file():
        raise ExportError(f"{results}: no timepoints.csv (is this a batch output folder?)")
    res = _results([results, *annotations], _deid(deidentify, secret))
    datasets = build_cdisc(res, studyid=studyid)
    with _output(outdir, "export cdisc") as (stage, paths):
        paths += write_cdisc(datasets, stage)


@export_app.command("report")
def report(
    inputs: list[Path] = typer.Argument(
        ..., metavar="INPUTS", help=INPUTS_HELP, show_default=False
    ),
    outdir: Path = _OUT,
    survival: Path | None = typer.Option(
        None, "--survival", help="Output folder of 'recist-tool survival' (tables, KM figures)."
    ),
    clinical: Path | None = typer.Option(
        None,
        "--clinical",
        help="clinical.csv: run the survival analysis (OS, PFS) into OUTDIR/survival and "
        "include it (instead of --survival).",
    ),
    treatments: Path | None = typer.Option(
        None, "--treatments", help="CSV with patient_id, date of each treatment (swimmer)."
    ),
    title: str = typer.Option("RECIST 1.1 cohort report", "--title"),
    agreement: Path | None = typer.Option(
        None, "--agreement", help="Output folder of 'recist-tool agreement' (reader agreement)."
    ),
    deidentify: bool = _DEID,
    secret: str | None = _SECRET,
) -> None:
    """Write the cohort report: one self-contained HTML file and a PDF."""
    from recist_tool.export import ExportError
    from recist_tool.export.report import build_cohort_report, write_cohort_report
    from recist_tool.export.tables import load_any

    deid = _deid(deidentify, secret)
    if clinical is not None and survival is not None:
        raise ExportError("give --clinical or --survival, not both")
    results = load_any(inputs)
    with _output(outdir, "export report") as (stage, paths):
        if clinical is not None:
            from recist_tool.survival import SurvivalSettings, run_survival

            # Survival tables and KM figures are aggregates: no patient ID or date in them.
            survival = stage / "survival"  # part of the report's output set
            settings = SurvivalSettings(endpoints=("os", "pfs"), formats=("png", "svg"))
            run_survival(clinical, results.patients, treatments, survival, settings)
        results = results.deidentified(deid) if deid is not None else results.without_identifiers()
        rep = build_cohort_report(
            results,
            survival=survival,
            treatments=_treatments(treatments, deid),
            title=title,
            agreement=agreement,
        )
        paths += write_cohort_report(rep, stage)


@export_app.command("patient-report")
def patient_report(
    annotations: list[Path] = _READINGS,
    dicom: list[Path] = _DICOM,
    outdir: Path = _OUT,
    settings_file: Path | None = typer.Option(
        None,
        "--settings",
        help="settings.json of a batch run: evaluate with that run's settings "
        "(default: the engine's defaults).",
    ),
    deidentify: bool = _DEID,
    secret: str | None = _SECRET,
) -> None:
    """Write a patient report (HTML and PDF) per annotation file.

    Lesion table by time point, response per time point (the engine's display values
    and reasons), and a key image per measured lesion (its slice, windowed, with the
    lines drawn).
    """
    import json

    from recist_tool.export import ExportError
    from recist_tool.export.patient_report import build_patient_report, write_patient_report
    from recist_tool.export.sr import ImageIndex
    from recist_tool.response import ResponseSettings

    settings = None
    if settings_file is not None:
        try:
            doc = json.loads(settings_file.read_text(encoding="utf-8"))
            settings = ResponseSettings.from_dict(doc.get("settings", doc))
        except (OSError, ValueError, TypeError) as exc:
            raise ExportError(
                f"{settings_file}: not a settings.json of a batch run: {exc}"
            ) from exc
    deid = _deid(deidentify, secret)
    index = ImageIndex(dicom)
    readings = _readings(annotations)
    with _output(outdir, "export patient-report") as (stage, paths):
        for p in readings:
            paths += write_patient_report(build_patient_report(p, index, deid, settings), stage)


@import_app.command("sr")
def import_sr(
    inputs: list[Path] = typer.Argument(
        ..., metavar="INPUTS", help="SR files or folders.", show_default=False
    ),
    output: Path = typer.Option(
        ...,
        "-o",
        "--output",
        help="Annotation CSV to write (a JSON sidecar goes next to it "
        "when --dicom is given and the SR holds one patient).",
    ),
    dicom: list[Path] = typer.Option(
        [], "--dicom", help="Folder(s) with the referenced images (to keep the lines)."
    ),
) -> None:
    """Read TID 1500 SRs (ours and other tools', OHIF's among them) into the annotation
    format.

    One lesion per measurement group, named by its label: long/short axis, length and
    diameter measurements with their lines, and point markers. Groups of other tools
    that are not lesions (a vessel diameter, an angle, a probe) are listed and skipped.
    A damaged SR is skipped with a message naming it; the others are imported and
    the exit code is 1 (2 when nothing could be imported).
    """
    from recist_tool.annotations import write_annotations
    from recist_tool.export.sr import ImageIndex
    from recist_tool.export.sr_import import read_srs, to_frame, to_readings

    skipped: list = []
    damaged: list[str] = []
    lesions = read_srs(inputs, skipped, damaged=damaged)
    for s in skipped:
        typer.echo(f"skipped (not a lesion): {s}", err=True)
    patients = {le.patient_id for le in lesions}
    if dicom and len(patients) == 1:
        (reading,) = to_readings(lesions, ImageIndex(dicom))
        csv_path, side = reading.save(output)
        _done([csv_path, side])
    else:
        write_annotations(to_frame(lesions), output)
        if dicom:
            typer.echo(
                "note: several patients: the lines are not kept (one sidecar per patient "
                "is needed); import one patient at a time to keep them",
                err=True,
            )
        _done([output])
    if damaged:
        # the rest is imported; the damaged files are named and the exit code says so
        for msg in damaged:
            typer.echo(f"skipped {msg}", err=True)
        typer.echo(
            f"error: {len(damaged)} damaged SR file(s) skipped; the other measurements "
            "were imported",
            err=True,
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``export`` and ``import`` command groups."""
    app.add_typer(export_app, name="export")
    app.add_typer(import_app, name="import")
