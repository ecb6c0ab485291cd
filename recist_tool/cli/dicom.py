"""``recist-tool dicom``: list series, describe a volume, write the synthetic sample."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

dicom_app = typer.Typer(
    help="Inspect DICOM CT series and write the synthetic sample study.",
    no_args_is_help=True,
)


def _fmt(v, nd: int = 3) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{nd}f}".rstrip("0").rstrip(".")
    return str(v)


@dicom_app.command("ls")
def ls(
    path: Path = typer.Argument(
        ..., metavar="PATH", help="A DICOM file or a folder (searched recursively)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the image series under PATH (headers only)."""
    import warnings

    from recist_tool.dicom import scan

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        series = scan(path)
    if as_json:
        typer.echo(json.dumps([s.to_dict() for s in series], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(series)} series in {path}")
    for col in (
        "patient",
        "date",
        "#",
        "description",
        "mod",
        "images",
        "size",
        "thick",
        "syntax",
        "loadable",
        "series UID",
    ):
        table.add_column(col, overflow="fold")
    for s in series:
        table.add_row(
            s.patient_id,
            s.study_date,
            _fmt(s.series_number),
            s.series_description,
            s.modality,
            str(s.frame_count),
            f"{s.rows}×{s.columns}",
            _fmt(s.slice_thickness),
            s.transfer_syntax,
            "yes" if s.loadable else "no",
            s.series_instance_uid,
        )
    # piped output (no terminal width) gets a wide table rather than folded cells
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 220)
    console.print(table)
    for s in series:
        if s.problem:
            console.print(f"[yellow]#{s.series_number}[/]: {s.problem}", highlight=False)
    for w in caught:
        console.print(f"[yellow]warning:[/] {w.message}", highlight=False)


@dicom_app.command("info")
def info(
    path: Path = typer.Argument(..., metavar="PATH", help="A DICOM file or a folder."),
    series: str | None = typer.Option(None, "--series", help="SeriesInstanceUID to load."),
    tilt: str = typer.Option("error", "--tilt", help="Gantry tilt: 'error' or 'resample'."),
    acquisition: int | None = typer.Option(
        None, "--acquisition", help="Keep only this AcquisitionNumber."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Load one series and print shape, spacing, origin, direction, HU range and window."""
    import warnings

    from recist_tool.dicom import load_series

    if tilt not in ("error", "resample"):
        raise typer.BadParameter("--tilt must be 'error' or 'resample'")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vol = load_series(path, series, tilt=tilt, acquisition=acquisition)  # type: ignore[arg-type]
    md = vol.metadata
    rec = {
        "series_instance_uid": md["series_instance_uid"],
        "series_number": md["series_number"],
        "series_description": md["series_description"],
        "modality": md["modality"],
        "patient_id": md["patient_id"],
        "study_date": md["study_date"],
        "folder": md["folder"],
        "transfer_syntax": md["transfer_syntax"],
        "shape_zyx": list(vol.shape),
        "dtype": str(vol.array.dtype),
        "spacing_zyx_mm": list(vol.spacing_zyx),
        "origin_lps_mm": list(vol.origin_lps),
        "direction": list(vol.direction),
        "slice_thickness_mm": vol.slice_thickness,
        "value_range": list(vol.hu_range),
        "window_center_width": list(vol.window) if vol.window else None,
        "notes": md["notes"],
        "warnings": [str(w.message) for w in caught],
    }
    if as_json:
        typer.echo(json.dumps(rec, indent=2))
        return
    win = f"C {_fmt(vol.window[0])} / W {_fmt(vol.window[1])}" if vol.window else "none"
    unit = "HU" if md["modality"] == "CT" else "stored values"
    lines = [
        f"series      {rec['series_number']} '{rec['series_description']}' {rec['modality']}",
        f"uid         {rec['series_instance_uid']}",
        f"folder      {rec['folder']}",
        f"syntax      {rec['transfer_syntax']}",
        f"shape zyx   {' × '.join(map(str, rec['shape_zyx']))} ({rec['dtype']})",
        f"spacing zyx {', '.join(_fmt(v, 4) for v in vol.spacing_zyx)} mm"
        f" (slice thickness {_fmt(vol.slice_thickness)} mm)",
        f"origin LPS  {', '.join(_fmt(v, 3) for v in vol.origin_lps)} mm",
        f"direction   {', '.join(_fmt(v, 6) for v in vol.direction)}",
        f"range       {_fmt(rec['value_range'][0])} … {_fmt(rec['value_range'][1])} {unit}",
        f"window      {win}",
    ]
    lines += [f"note        {n}" for n in rec["notes"]]
    lines += [f"warning     {w}" for w in rec["warnings"]]
    typer.echo("\n".join(lines))


@dicom_app.command("sample")
def sample(
    out: Path = typer.Option(..., "-o", "--out", help="Destination folder."),
    shape: tuple[int, int, int] | None = typer.Option(
        None,
        "--shape",
        help="Write one series of this size (slices rows columns) instead "
        "of the two-time-point sample study, e.g. --shape 300 512 512.",
    ),
    syntax: str = typer.Option(
        "rle", "--syntax", help="explicit, implicit, deflated, rle, jpeg2000 or jpegls."
    ),
    slice_spacing: float = typer.Option(5.0, "--slice-spacing", help="Slice step in mm."),
    seed: int = typer.Option(2024, "--seed", help="Seed of noise and UIDs."),
) -> None:
    """Write the synthetic sample study (baseline + follow-up, truth.json, annotations.csv).

    With --shape, write one bigger series (e.g. for benchmarks) instead.
    """
    from recist_tool.synth import phantom

    if syntax not in phantom._TS:
        raise typer.BadParameter(f"--syntax must be one of {', '.join(phantom._TS)}")
    if shape is None:
        truth = phantom.write_sample_study(
            out, transfer_syntax=syntax, seed=seed, slice_spacing=slice_spacing
        )
        typer.echo(f"wrote sample study to {out} (SOD change {truth['sod_change_percent']} %)")
        return
    st = phantom.write_series(
        out,
        shape=shape,
        transfer_syntax=syntax,
        seed=seed,
        slice_spacing=slice_spacing,
        z_center=0.0,
    )
    typer.echo(f"wrote {len(st.files)} files of series {st.series_instance_uid} to {out}")


def register(app: typer.Typer) -> None:
    """Add the ``dicom`` command group to the ``recist-tool`` app."""
    app.add_typer(dicom_app, name="dicom")
