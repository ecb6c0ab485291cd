"""A small demo cohort of DICOM studies: patients with a baseline and a follow-up CT.

For the worklist and PACS flows (README, docs/pacs.md): each patient gets two
studies (small synthetic CT volumes from :mod:`recist_tool.synth.phantom`) and a
*truth reading* — the annotation CSV and its JSON sidecar with the true long and
short axes drawn as lines on the right slices — that stands in for a reader's work
in command-line demos and tests. The patients cover the main responses:

==========  ======================================================  ========
patient     follow-up                                               response
==========  ======================================================  ========
DEMO-001    targets shrink (the sample study's sizes)               PR
DEMO-002    targets at 90 %                                         SD
DEMO-003    targets at 130 %                                        PD
DEMO-004    targets at 95 %, a new liver lesion                     PD
DEMO-005    liver and lung targets gone, node short axis 8 mm       CR
==========  ======================================================  ========

Further patients (``n`` > 5) repeat the pattern with new IDs. A small clinical table
(``clinical.csv``: treatment date, last contact, death) lets the demos run
``recist-tool survival``; its outcomes (:data:`OUTCOMES`, repeating every ten
patients) follow the response in the first five patients and go against it in the
next five, so that with ten patients no response predicts survival perfectly.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from recist_tool.synth.phantom import FOLLOWUP_AXES, Lesion, baseline_lesions, write_series

SHAPE = (21, 128, 128)
FOV_MM = 384.0
SLICE_MM = 10.0
Z_CENTER = 10.0
NEW_LESION = Lesion(
    "N2", "liver", "new", False, (-60.0, -45.0, -20.0), 16.0, 12.0, 12.0, 10.0, 20.0
)


@dataclass(frozen=True)
class DemoPatient:
    """What the generator wrote for one patient."""

    patient_id: str
    response: str
    folders: tuple[Path, Path]  # baseline, follow-up
    reading: Path  # the truth reading's annotation CSV


def _followup(kind: int, base: list[Lesion]) -> tuple[list[Lesion], dict[str, str]]:
    """Follow-up lesions (to render) and the status of each baseline lesion."""
    status = {le.lesion_id: "measured" if le.kind == "target" else "present" for le in base}
    if kind == 0:
        return [le.scaled(*FOLLOWUP_AXES[le.lesion_id]) for le in base], status
    if kind in (1, 2, 3):
        f = {1: 0.9, 2: 1.3, 3: 0.95}[kind]
        out = [
            le.scaled(le.long_axis_mm * f, le.short_axis_mm * f) if le.kind == "target" else le
            for le in base
        ]
        return ([*out, NEW_LESION] if kind == 3 else out), status
    out = []  # complete response: L1 and L2 gone, node < 10 mm short axis, NT gone
    for le in base:
        if le.nodal:
            out.append(le.scaled(10.0, 8.0))
        else:
            status[le.lesion_id] = "disappeared" if le.kind == "target" else "absent"
    return out, status


RESPONSES = ("PR", "SD", "PD", "PD", "CR")
#: Days from the baseline CT to the last contact, and death (1) or censoring (0), of
#: patients 1-10 (then repeating).
OUTCOMES = (
    (900, 0),
    (600, 1),
    (320, 1),
    (260, 1),
    (1000, 0),
    (400, 1),
    (800, 0),
    (1100, 0),
    (950, 0),
    (450, 1),
)


def write_demo_cohort(
    outdir: str | os.PathLike, n: int = 5, seed: int = 13, prefix: str = "DEMO"
) -> list[DemoPatient]:
    """Write ``n`` patients' studies and truth readings under ``outdir``.

    Layout: ``outdir/dicom/<patient>/{baseline,followup}/`` (one CT series each, its
    own study), ``outdir/readings/<patient>.csv`` + ``.json`` (the truth
    reading, reader ``truth``) and ``outdir/clinical.csv`` (``patient_id,
    treatment_date, last_contact_date, death``: treatment a week after the baseline
    CT; see :data:`OUTCOMES`).

    Returns
    -------
    list of DemoPatient
    """
    from recist_tool._atomic import atomic_write_text
    from recist_tool.export.sr import ImageIndex
    from recist_tool.reading import Line, Reading

    out = Path(outdir)
    patients = []
    clinical = ["patient_id,treatment_date,last_contact_date,death\n"]
    for i in range(n):
        pid = f"{prefix}-{i + 1:03d}"
        kind = i % 5
        base = baseline_lesions()
        follow, status = _followup(kind, base)
        d0 = dt.date(2024, 1, 8) + dt.timedelta(days=7 * i)
        d1 = d0 + dt.timedelta(days=91)
        reading = Reading(patient_id=pid, reader="truth")
        folders = []
        for j, (label, date, lesions) in enumerate(
            (("baseline", d0, base), ("followup", d1, follow))
        ):
            folder = out / "dicom" / pid / label
            st = write_series(
                folder,
                shape=SHAPE,
                fov_mm=FOV_MM,
                slice_spacing=SLICE_MM,
                z_center=Z_CENTER,
                lesions=lesions,
                seed=seed * 1000 + i * 10 + j,
                patient_id=pid,
                study_date=date.strftime("%Y%m%d"),
                series_description=f"AXIAL {SLICE_MM:g}mm {label}",
                transfer_syntax="explicit",
            )
            folders.append(folder)
            info = ImageIndex([folder]).series_info(st.series_instance_uid)
            reading.add_series(info)
            reading.assign_series(info.series_uid, label, date.isoformat())
            geo = info.geometry
            drawn = {le.lesion_id: le for le in lesions}
            for le in base + ([NEW_LESION] if NEW_LESION in lesions else []):
                if le.lesion_id not in {x.lesion_id for x in reading.lesions}:
                    reading.add_lesion(le.kind, le.organ, le.nodal, le.lesion_id)
                if le.lesion_id not in drawn:  # gone at follow-up
                    reading.set_status(le.lesion_id, label, status[le.lesion_id])
                    continue
                cur = drawn[le.lesion_id]
                if le.kind == "non_target":
                    reading.set_status(le.lesion_id, label, "present")
                    continue
                k = round(float(geo.lps_to_index([cur.center_lps])[0][0]))
                sop = geo.sop_instance_uid(k)
                ends = cur.axis_endpoints()
                for axis, key in (
                    ("long", "long_axis_endpoints_lps"),
                    ("short", "short_axis_endpoints_lps"),
                ):
                    p1, p2 = ends[key]
                    reading.set_line(
                        le.lesion_id,
                        label,
                        axis,
                        Line(tuple(p1), tuple(p2), info.series_uid, sop, k),
                    )
                if le.kind == "new":
                    reading.set_status(le.lesion_id, label, "present")
        csv_path, _ = reading.save(out / "readings" / f"{pid}.csv")
        patients.append(DemoPatient(pid, RESPONSES[kind], (folders[0], folders[1]), csv_path))
        days, death = OUTCOMES[i % len(OUTCOMES)]
        d_last = d0 + dt.timedelta(days=days)
        clinical.append(f"{pid},{d0 + dt.timedelta(days=7)},{d_last},{death}\n")
    atomic_write_text(out / "clinical.csv", "".join(clinical))
    return patients
