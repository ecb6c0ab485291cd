"""Build the studies of a cohort from a folder of DICOM or from a PACS search.

Both give :class:`StudyRow` records; :func:`propose_timepoints` groups a patient's
studies by date into time points (the earliest is the baseline).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from recist_tool.worklist.errors import WorklistError

if TYPE_CHECKING:
    from recist_tool.pacs import PacsClient

BASELINE = "baseline"


@dataclass(frozen=True)
class StudyRow:
    """One study of a patient in the cohort (a row of ``studies.csv``).

    ``location`` is the study's folder (folder cohorts; relative to the cohort
    folder when inside it) or empty for PACS cohorts, whose studies are pulled into
    ``COHORT_DIR/cache/<StudyInstanceUID>/``.
    """

    patient_id: str
    study_uid: str
    date: str  # YYYY-MM-DD ("" when the study has no StudyDate)
    timepoint: str = ""
    description: str = ""
    modalities: tuple[str, ...] = field(default_factory=tuple)
    series_count: int | None = None
    location: str = ""


def propose_timepoints(rows: Iterable[StudyRow]) -> list[StudyRow]:
    """Label each patient's studies by date: ``baseline``, ``fu1``, ``fu2``, …

    Studies of one patient on the same date form one time point; a study without
    date gets no time point (empty label) and is left for the reader to assign.
    """
    by_patient: dict[str, list[StudyRow]] = {}
    for r in rows:
        by_patient.setdefault(r.patient_id, []).append(r)
    out: list[StudyRow] = []
    for pid in sorted(by_patient):
        studies = sorted(by_patient[pid], key=lambda r: (r.date == "", r.date, r.study_uid))
        dates = sorted({r.date for r in studies if r.date})
        label = {d: (BASELINE if i == 0 else f"fu{i}") for i, d in enumerate(dates)}
        out += [replace(r, timepoint=label.get(r.date, "")) for r in studies]
    return out


def from_folder(folder: str | os.PathLike, modality: str | None = "CT") -> list[StudyRow]:
    """The studies under a folder (header-only scan; every patient, every study).

    Parameters
    ----------
    folder : path-like
    modality : str, optional
        Keep studies holding a series of this modality (default CT; None: all).
    """
    import warnings

    from recist_tool.dicom import scan

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unreadable files show in 'dicom ls'
        infos = scan(folder)
    studies: dict[tuple[str, str], list] = {}
    for s in infos:
        studies.setdefault((s.patient_id, s.study_instance_uid), []).append(s)
    rows = []
    for (pid, uid), series in studies.items():
        mods = tuple(sorted({s.modality for s in series if s.modality}))
        if modality and modality.upper() not in mods:
            continue
        if not pid:
            raise WorklistError(
                f"{series[0].folder}: study {uid} has no PatientID: a cohort needs one per patient"
            )
        folders = sorted({_series_folder(s) for s in series})
        rows.append(
            StudyRow(
                patient_id=pid,
                study_uid=uid,
                date=_iso(series[0].study_date),
                description=series[0].study_description,
                modalities=mods,
                series_count=len(series),
                location=os.path.commonpath(folders) if folders else "",
            )
        )
    if not rows:
        what = f" with a {modality} series" if modality else ""
        raise WorklistError(f"{folder}: no study{what} found")
    return propose_timepoints(rows)


def _series_folder(info) -> str:
    paths = [h.path for h in info.headers] or [os.path.join(info.folder, "x")]
    return os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])


def from_pacs(
    client: PacsClient,
    patients: Sequence[str] = (),
    study_date: str | None = None,
    modality: str | None = "CT",
    filters: dict[str, str] | None = None,
) -> list[StudyRow]:
    """The studies a PACS search finds (one search per patient id when given).

    Parameters
    ----------
    client : PacsClient
    patients : sequence of str
        Patient IDs (wildcards allowed); empty: one search with the other filters.
    study_date, modality, filters
        As :meth:`PacsClient.find_studies`.
    """
    found = {}
    for pid in patients or [None]:
        for s in client.find_studies(pid, study_date, modality, filters):
            found[s.study_uid] = s
    if not found:
        raise WorklistError(f"no study on {client.url} matches the query")
    rows = [
        StudyRow(
            patient_id=s.patient_id,
            study_uid=s.study_uid,
            date=s.study_date,
            description=s.description,
            modalities=s.modalities,
            series_count=s.series_count,
        )
        for s in found.values()
    ]
    missing = [
        p
        for p in patients
        if p and "*" not in p and "?" not in p and p not in {r.patient_id for r in rows}
    ]
    if missing:
        raise WorklistError(
            f"no study on {client.url} for patient(s) {', '.join(missing[:10])}"
            + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        )
    return propose_timepoints(rows)


def _iso(da: str) -> str:
    da = (da or "").strip()
    if len(da) == 8 and da.isdigit():
        return f"{da[:4]}-{da[4:6]}-{da[6:]}"
    return da if len(da) == 10 else ""


def read_patient_list(path: str | os.PathLike) -> list[str]:
    """Patient IDs from a text file (one per line) or a CSV with a ``patient_id`` column."""
    import csv

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise WorklistError(f"{p}: cannot read ({exc.strerror or exc})") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines and "patient_id" in [c.strip() for c in next(csv.reader([lines[0]]))]:
        rows = list(csv.DictReader(lines))
        ids = [str(r.get("patient_id") or "").strip() for r in rows]
    else:
        ids = [ln.strip() for ln in lines if not ln.lstrip().startswith("#")]
    ids = [i for i in dict.fromkeys(ids) if i]
    if not ids:
        raise WorklistError(f"{p}: no patient id")
    return ids
