"""Shared inputs of the export tests: a small cohort with known RECIST outcomes.

The annotation rows are written by hand; every result table the tests use is
computed from them by the RECIST engine (never typed in).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from recist_tool.annotations import Measurement, to_frame, write_annotations

# Identifiers that must never leak into an export (the de-identification test scans
# every file for them).
NAMES = {
    "HOSP-0001": ("Doe^Jane", "1950-03-14"),
    "HOSP-0002": ("Roe^Richard", "1961-07-02"),
    "HOSP-0003": ("Poe^Edgar", "1949-01-19"),
    "HOSP-0004": ("Moe^Mary", "1970-11-30"),
    "HOSP-0005": ("Loe^Larry", "1955-05-05"),
    "HOSP-0006": ("Zoe^Zelda", "1966-06-16"),
}


def _m(pid, tp, date, lid, kind, organ, la=None, sa=None, status="measured", nodal=False):
    name, birth = NAMES[pid]
    return Measurement(
        pid,
        tp,
        date,
        lid,
        kind,
        organ,
        nodal=nodal,
        long_axis_mm=la,
        short_axis_mm=sa,
        status=status,
        extra={"patient_name": name, "birth_date": birth, "reader": "Dr^Who"},
    )


def cohort_rows() -> list[Measurement]:
    """Six patients: PR, PD by new lesion (with shrinking targets), PD by growth, CR,
    SD, and PD by non-target progression."""
    m = _m
    return [
        # PR: 70 → 40 (−42.9 %) → 44
        m("HOSP-0001", "BL", "2024-01-08", "T1", "target", "liver", 50),
        m("HOSP-0001", "BL", "2024-01-08", "T2", "target", "lung", 20),
        m("HOSP-0001", "FU1", "2024-03-04", "T1", "target", "liver", 30),
        m("HOSP-0001", "FU1", "2024-03-04", "T2", "target", "lung", 10),
        m("HOSP-0001", "FU2", "2024-04-29", "T1", "target", "liver", 32),
        m("HOSP-0001", "FU2", "2024-04-29", "T2", "target", "lung", 12),
        # PD by a new lesion although the target shrank 25 %
        m("HOSP-0002", "BL", "2024-02-01", "T1", "target", "lung", 40),
        m("HOSP-0002", "FU1", "2024-03-28", "T1", "target", "lung", 30),
        m("HOSP-0002", "FU1", "2024-03-28", "N1", "new", "bone", status="present"),
        # PD by growth: 20 → 26 (+30 %)
        m("HOSP-0003", "BL", "2024-01-15", "T1", "target", "liver", 20),
        m("HOSP-0003", "FU1", "2024-03-15", "T1", "target", "liver", 26),
        # CR: liver disappears, node short axis 20 → 8
        m("HOSP-0004", "BL", "2024-02-10", "T1", "target", "liver", 30),
        m("HOSP-0004", "BL", "2024-02-10", "T2", "target", "lymph node", 25, 20, nodal=True),
        m("HOSP-0004", "FU1", "2024-04-06", "T1", "target", "liver", 20),
        m("HOSP-0004", "FU1", "2024-04-06", "T2", "target", "lymph node", 16, 12, nodal=True),
        m("HOSP-0004", "FU2", "2024-06-01", "T1", "target", "liver", status="disappeared"),
        m("HOSP-0004", "FU2", "2024-06-01", "T2", "target", "lymph node", 10, 8, nodal=True),
        # SD
        m("HOSP-0005", "BL", "2024-01-20", "T1", "target", "lung", 30),
        m("HOSP-0005", "FU1", "2024-03-23", "T1", "target", "lung", 31),
        m("HOSP-0005", "FU2", "2024-05-25", "T1", "target", "lung", 33),
        # PD by unequivocal non-target progression
        m("HOSP-0006", "BL", "2024-03-01", "T1", "target", "liver", 45),
        m("HOSP-0006", "BL", "2024-03-01", "NT1", "non_target", "peritoneum", status="present"),
        m("HOSP-0006", "FU1", "2024-04-26", "T1", "target", "liver", 44),
        m(
            "HOSP-0006",
            "FU1",
            "2024-04-26",
            "NT1",
            "non_target",
            "peritoneum",
            status="progression",
        ),
    ]


@pytest.fixture
def annotations_csv(tmp_path: Path) -> Path:
    """The cohort written as an annotation CSV (with identifier columns)."""
    path = tmp_path / "HOSP-cohort.csv"
    write_annotations(to_frame(cohort_rows()), path)
    return path


@pytest.fixture
def results(annotations_csv: Path):
    """The cohort evaluated by the RECIST engine."""
    from recist_tool.export.tables import compute_results

    return compute_results([annotations_csv])


SAMPLE = Path(__file__).resolve().parents[3] / "sample_dicom"


def reading_from_truth(sample: Path = SAMPLE, reader: str = "Dr^Reader"):
    """A reader's work on the sample study: every truth axis drawn as a line.

    Lines come from the truth's LPS end points on the slices the DICOM loader gives
    (``load_series`` + the reading model's geometry), as the napari plugin draws them.
    """
    import json

    from recist_tool.dicom import load_series
    from recist_tool.reading import Line, Marker, Reading, SeriesInfo

    truth = json.loads((sample / "truth.json").read_text())
    r = Reading(patient_id=truth["patient_id"], reader=reader)
    for tp in truth["timepoints"]:
        info = SeriesInfo.from_volume(load_series(sample / tp["folder"]))
        r.add_series(info)
        r.assign_series(info.series_uid, tp["timepoint"], tp["date"])
        geo = info.geometry
        for les in tp["lesions"]:
            try:
                r.lesion(les["lesion_id"])
            except Exception:
                r.add_lesion(les["kind"], les["organ"], les["nodal"], les["lesion_id"])
            k = round(float(geo.lps_to_index(les["center_lps"])[0]))
            if les["kind"] == "target":
                for axis in ("long", "short"):
                    p1, p2 = les[f"{axis}_axis_endpoints_lps"]
                    line = Line(tuple(p1), tuple(p2), info.series_uid, geo.sop_instance_uid(k), k)
                    r.set_line(les["lesion_id"], tp["timepoint"], axis, line)
                r.set_status(les["lesion_id"], tp["timepoint"], "measured")
            else:
                marker = Marker(
                    tuple(les["center_lps"]), info.series_uid, geo.sop_instance_uid(k), k
                )
                r.set_marker(les["lesion_id"], tp["timepoint"], marker)
                r.set_status(les["lesion_id"], tp["timepoint"], "present")
    return r


@pytest.fixture(scope="session")
def sample_reading():
    """The sample study's reading (built once per session)."""
    return reading_from_truth()


@pytest.fixture(scope="session")
def sample_srs(tmp_path_factory, sample_reading):
    """SRs of the sample study (both time points), without identifiers."""
    from recist_tool.export.sr import export_readings

    out = tmp_path_factory.mktemp("sr")
    return export_readings([sample_reading], [SAMPLE], out)
