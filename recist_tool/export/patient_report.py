"""Patient report: lesion table by time point, response per time point, key images.

Built from one patient's annotation CSV with its JSON sidecar (the measurement lines
in patient coordinates, see :mod:`recist_tool.reading`) and the DICOM images: for
every measured lesion at every time point, the slice the line was drawn on is read,
windowed (lung window for lung lesions, soft tissue otherwise, or the image's own
window), cropped around the lesion, and the long axis (solid) and short axis
(dashed) are drawn on it. Written as one self-contained HTML file and a PDF.

The report shows the patient ID used in the annotations (the pseudonym when
de-identified) and never the patient's name or birth date.
"""

from __future__ import annotations

import html
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recist_tool import __version__
from recist_tool._atomic import atomic_write_bytes, atomic_write_text
from recist_tool.annotations import iso_dates
from recist_tool.export import ExportError
from recist_tool.export.report import img_tag, page, table_html

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from recist_tool.export.deid import Deidentifier
    from recist_tool.export.sr import ImageIndex
    from recist_tool.reading import Reading

LUNG_WINDOW = (-600.0, 1500.0)
SOFT_TISSUE_WINDOW = (40.0, 400.0)
#: Half-width of the key image crop: at least this many mm, or 1.5 × the long axis.
MIN_HALF_FOV_MM = 35.0
#: Radius of the circle around a lesion marked by a point (non-target, new lesion).
MARKER_RADIUS_MM = 12.0


@dataclass
class KeyImage:
    """One rendered key image."""

    lesion_id: str
    timepoint: str
    caption: str
    png: bytes


def _window(organ: str, image) -> tuple[float, float]:
    if "lung" in organ.lower():
        return LUNG_WINDOW
    return SOFT_TISSUE_WINDOW


def _hu(path: Path) -> tuple[np.ndarray, object]:
    from pydicom import dcmread

    ds = dcmread(path)
    arr = ds.pixel_array.astype(np.float32)
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    return arr * slope + intercept, ds


def render_key_image(
    reading: Reading,
    lesion,
    timepoint: str,
    index: ImageIndex,
    shown: str | None = None,
    text=None,
) -> KeyImage:
    """Draw one lesion on its slice (windowed and cropped) as a PNG.

    Lines are drawn for measured lesions (long axis solid, short axis dashed); a
    lesion marked by a point (non-target, new) gets a circle.

    Parameters
    ----------
    reading, lesion, timepoint, index
        The lesion's finding at ``timepoint`` and the images.
    shown : str, optional
        Time point label to print (e.g. a shifted date when de-identified).
    text : callable, optional
        Maps free text (lesion ID, organ) to the text printed (de-identification).

    Raises
    ------
    ExportError
        When the lesion has neither line nor marker here, or its image is missing.
    """
    from matplotlib.figure import Figure

    from recist_tool.export.plots import figure_bytes
    from recist_tool.export.sr import image_coordinates

    shown = shown or timepoint
    text = text or (lambda t: t)
    lesion_id, organ = text(lesion.lesion_id), text(lesion.organ or "")
    f = lesion.findings[timepoint]
    lines = [(ln, style) for ln, style in ((f.long_axis, "-"), (f.short_axis, "--")) if ln]
    where = f"patient {reading.patient_id}, time point {timepoint}, lesion {lesion.lesion_id}"
    marks = [ln for ln, _ in lines] or ([f.marker] if f.marker is not None else [])
    if not marks:
        raise ExportError(f"{where}: no measurement line or marker to show")
    sop = marks[0].sop_instance_uid
    if not sop:
        raise ExportError(f"{where}: the mark does not record its image (SOP Instance UID)")
    header = index.get(sop, where)
    hu, ds = _hu(index.files[sop])
    center, width = _window(lesion.organ, ds)
    # image coordinates minus 0.5: pixel-centre coordinates, as imshow uses
    if lines:
        pts = [image_coordinates(np.array([ln.p1_lps, ln.p2_lps]), header, where) - 0.5
               for ln, _ in lines]  # fmt: skip
        mid = np.vstack(pts).mean(axis=0)
    else:
        pts = []
        mid = image_coordinates(np.array([f.marker.position_lps]), header, where)[0] - 0.5
    spacing = float(header.PixelSpacing[1])
    half = max(MIN_HALF_FOV_MM, 1.5 * (f.long_axis.length_mm if f.long_axis else 0)) / spacing
    fig = Figure(figsize=(3.0, 3.25), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(
        hu, cmap="gray", vmin=center - width / 2, vmax=center + width / 2, interpolation="nearest"
    )
    colours = {"-": "#ffd700", "--": "#00e5ff"}
    for (_ln, style), xy in zip(lines, pts, strict=True):
        ax.plot(
            xy[:, 0], xy[:, 1], style, color=colours[style], linewidth=1.6, marker="+", markersize=7
        )
    if not lines:
        from matplotlib.patches import Circle

        ax.add_patch(Circle(tuple(mid), MARKER_RADIUS_MM / spacing, fill=False,
                            edgecolor="#ff4df0", linewidth=1.6))  # fmt: skip
    ax.set_xlim(mid[0] - half, mid[0] + half)
    ax.set_ylim(mid[1] + half, mid[1] - half)
    ax.set_xticks([])
    ax.set_yticks([])
    sizes = []
    if f.long_mm is not None:
        sizes.append(f"LA {f.long_mm:g} mm")
    if f.short_mm is not None:
        sizes.append(f"SA {f.short_mm:g} mm")
    if f.fragments:  # the image shows one part of a lesion that split
        total = f.added_up("short" if lesion.nodal else "long")
        parts = ", ".join([f.fragment, *(fr.label for fr in f.fragments)])
        sizes = [f"part {f.fragment}: " + ", ".join(sizes)] if sizes else []
        sizes.append(f"split into {parts}: {'?' if total is None else f'{total:g}'} mm in all")
    label = ", ".join(sizes) or str(f.status or "").replace("_", " ")
    z = header.get("InstanceNumber", "?")
    caption = (
        f"{lesion_id} ({organ or 'organ ?'}) · {shown} · {label} · "
        f"image {z} · W {width:g} / L {center:g}"
    )
    ax.set_title(f"{lesion_id} · {shown}", fontsize=10)
    ax.text(
        0.02,
        0.02,
        label,
        transform=ax.transAxes,
        color="white",
        fontsize=8,
        va="bottom",
        bbox={"facecolor": "black", "alpha": 0.6, "pad": 2, "linewidth": 0},
    )
    return KeyImage(lesion_id, shown, caption, figure_bytes(fig, "png", dpi=150))


def key_images(
    reading: Reading, index: ImageIndex, shown=None, text=None
) -> tuple[list[KeyImage], list[tuple[str, str]]]:
    """A key image for every lesion with a line or marker, at every time point.

    Parameters
    ----------
    reading : Reading
    index : ImageIndex
    shown : callable, optional
        Maps a time point label to the label printed (de-identification).
    text : callable, optional
        Maps free text (lesion ID, organ) to the text printed (de-identification).

    Returns
    -------
    (list of KeyImage, list of (str, str))
        The images, and (lesion, time point) of measured lesions without a line.
    """
    shown = shown or (lambda t: t)
    out, notes = [], []
    for tp in reading.timepoints:
        for lesion in reading.lesions:
            f = lesion.findings.get(tp.label)
            if f is None or f.status is None:
                continue
            if f.long_axis or f.short_axis or f.marker is not None:
                out.append(
                    render_key_image(reading, lesion, tp.label, index, shown(tp.label), text)
                )
            elif f.status == "measured":
                notes.append((lesion.lesion_id, tp.label))
    return out, notes


def lesion_matrix(annotations: pd.DataFrame, timepoint_order: Sequence[str]) -> pd.DataFrame:
    """Lesions × time points: the RECIST size (mm) or the status when not measured."""
    a = annotations.copy()
    nodal = a["nodal"].astype(bool)
    a["_size"] = np.where(nodal, a["short_axis_mm"], a["long_axis_mm"]).astype(float)
    # a lesion that split has a row per part (``fragment``): its size is their sum
    key = ["lesion_id", "timepoint"]
    a["_parts"] = a.groupby(key, observed=True)["_size"].transform("size")
    a["_size"] = a.groupby(key, observed=True)["_size"].transform(lambda v: v.sum(min_count=1))
    a = a.drop_duplicates(key)

    def cell(s: float, status: str, parts: int) -> str:
        split = f" ({parts} parts)" if parts > 1 else ""
        if status in ("measured",) and not np.isnan(s):
            return f"{s:g}{split}"
        label = status.replace("_", " ")
        return f"{s:g}{split} ({label})" if not np.isnan(s) else label

    a["cell"] = [
        cell(s, str(st), int(n))
        for s, st, n in zip(a["_size"], a["status"], a["_parts"], strict=True)
    ]
    m = a.pivot_table(
        index=["lesion_id", "kind", "organ", "nodal"],
        columns="timepoint",
        values="cell",
        aggfunc="first",
    )
    m = m.reindex(columns=[t for t in timepoint_order if t in m.columns])
    m = m.reset_index().fillna("")
    m["nodal"] = m["nodal"].map({True: "yes", False: ""})
    m.columns.name = None
    order = {"target": 0, "non_target": 1, "new": 2}
    return m.sort_values(
        ["kind", "lesion_id"], key=lambda s: s.map(order).fillna(s) if s.name == "kind" else s
    ).reset_index(drop=True)


_TP_LABELS = {
    "timepoint": "time point",
    "days_from_baseline": "day",
    "sum_mm": "SOD (mm)",
    "change_from_baseline_pct": "vs BL (%)",
    "change_from_nadir_pct": "vs nadir (%)",
    "target_response": "target",
    "non_target_response": "non-target",
    "new_lesions": "new",
    "overall_response": "overall",
    "reason": "why",
}
_SUMMARY_LABELS = {
    "best_overall_response": "best response",
    "best_response_date": "date",
    "best_change_pct": "best change (%)",
    "progression_date": "progression",
    "pfs_days": "PFS (days)",
    "pfs_event": "PFS event",
}


@dataclass
class PatientReport:
    """Contents of one patient's report."""

    patient_id: str
    lesions: pd.DataFrame
    timepoints: pd.DataFrame
    summary: pd.DataFrame
    images: list[KeyImage]
    notes: list[str] = field(default_factory=list)


def build_patient_report(
    reading: Reading,
    index: ImageIndex,
    deid: Deidentifier | None = None,
    settings: Any = None,
) -> PatientReport:
    """Evaluate one patient and render the key images.

    Parameters
    ----------
    reading : Reading
        From the patient's annotation CSV and sidecar (``Reading.load``).
    index : ImageIndex
        The images the lines were drawn on.
    deid : Deidentifier, optional
        Show the pseudonym and shifted dates.
    settings : recist_tool.response.ResponseSettings, optional
        The settings of the run the report belongs to (default: the engine's).
        Every number shown is the engine's display value; nothing is rounded here.
    """
    from recist_tool.response import evaluate

    frame = reading.to_frame()
    if frame.empty:
        raise ExportError(f"patient {reading.patient_id}: no assessed lesion to report")
    ev = evaluate(frame, settings)
    tp = ev.timepoints.copy()
    pt = ev.patients.copy()
    if deid is not None:
        tp, pt, frame = deid.frame(tp), deid.frame(pt), deid.frame(frame)
    tp_cols = ["timepoint", "date", "days_from_baseline", "sum_mm", "change_from_baseline_pct",
               "change_from_nadir_pct", "target_response", "non_target_response", "new_lesions",
               "overall_response", "reason"]  # fmt: skip
    tp = tp[tp_cols].copy()
    tp["date"] = iso_dates(tp["date"])
    summary = pt[["best_overall_response", "best_response_date", "best_change_pct",
                  "progression_date", "pfs_days", "pfs_event"]].copy()  # fmt: skip
    for col in ("best_response_date", "progression_date"):
        summary[col] = iso_dates(summary[col])
    tp = tp.rename(columns=_TP_LABELS)
    summary = summary.rename(columns=_SUMMARY_LABELS)
    pid = deid.pseudonym(reading.patient_id) if deid is not None else reading.patient_id
    # Free text (labels, lesion IDs, organs) is scrubbed like the tables' (deid.frame).
    text = (lambda t: deid.scrub_text(t, reading.patient_id)) if deid else (lambda t: t)
    labels = [text(t.label) for t in reading.timepoints]
    images, notes = key_images(reading, index, text, text)
    notes = [
        f"{text(lid)} at {text(t)}: no key image (no measurement line recorded: the "
        "annotation file has no JSON sidecar)"
        for lid, t in notes
    ]
    return PatientReport(pid, lesion_matrix(frame, labels), tp, summary, images, notes)


def patient_html(rep: PatientReport) -> str:
    """The patient report as a self-contained HTML document."""
    parts = [
        f"<h1>RECIST 1.1 patient report: {html.escape(rep.patient_id)}</h1>",
        f'<p class="meta">recist-tool {html.escape(__version__)}. Sizes in mm (short axis '
        "for lymph nodes, long axis otherwise).</p>",
        "<h2>Best overall response</h2>",
        table_html(rep.summary, "{:g}"),
        "<h2>Response per time point</h2>",
        table_html(rep.timepoints, "{:g}"),
        "<h2>Lesions by time point</h2>",
        table_html(rep.lesions),
        "<h2>Key images</h2>",
        '<p class="meta">Long axis solid yellow, short axis dashed cyan.</p>',
    ]
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in rep.notes]
    for im in rep.images:
        parts.append(
            f'<figure style="display:inline-block;margin:.4em">'
            f"{img_tag(im.png, im.caption)}<figcaption>{html.escape(im.caption)}"
            "</figcaption></figure>"
        )
    return page(f"RECIST 1.1 patient report {rep.patient_id}", "\n".join(parts))


def patient_pdf(rep: PatientReport) -> bytes:
    """The patient report as PDF bytes (tables page, then key images 2 × 3 per page)."""
    import matplotlib.image as mpimg
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    from recist_tool.export.plots import style
    from recist_tool.export.report import _text_page

    buf = io.BytesIO()
    with (
        style(),
        PdfPages(
            buf,
            metadata={
                "Title": f"RECIST 1.1 patient report {rep.patient_id}",
                "Creator": f"recist-tool {__version__}",
                "CreationDate": None,
            },
        ) as pdf,
    ):
        _text_page(pdf, f"Patient {rep.patient_id}", [
            ("Best overall response", rep.summary),
            ("Response per time point", rep.timepoints),
            ("Lesions by time point (mm)", rep.lesions),
        ])  # fmt: skip
        per_page = 6
        for start in range(0, len(rep.images), per_page):
            fig: Figure = Figure(figsize=(8.27, 11.69))
            fig.text(
                0.07,
                0.96,
                f"Key images — patient {rep.patient_id}",
                fontsize=13,
                weight="bold",
                va="top",
            )
            for i, im in enumerate(rep.images[start : start + per_page]):
                r, c = divmod(i, 2)
                ax = fig.add_axes((0.07 + c * 0.45, 0.64 - r * 0.3, 0.4, 0.27))
                ax.imshow(mpimg.imread(io.BytesIO(im.png), format="png"))
                ax.axis("off")
            pdf.savefig(fig)
    return buf.getvalue()


def write_patient_report(rep: PatientReport, outdir: str | os.PathLike) -> list[Path]:
    """Write ``<patient>_report.html`` and ``.pdf`` into ``outdir`` (atomically)."""
    from recist_tool.filenames import file_stem

    outdir = Path(outdir)
    stem = f"{file_stem(rep.patient_id)}_report"  # unique and bounded
    html_path, pdf_path = outdir / f"{stem}.html", outdir / f"{stem}.pdf"
    atomic_write_text(html_path, patient_html(rep))
    atomic_write_bytes(pdf_path, patient_pdf(rep))
    return [html_path, pdf_path]
