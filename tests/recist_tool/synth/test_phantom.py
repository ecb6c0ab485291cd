"""The synthetic CT generator: determinism, valid DICOM, realistic HU, exact lesions."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import UID

from recist_tool.synth.phantom import (
    FOLLOWUP_AXES,
    baseline_lesions,
    body_hu,
    lesion_weight,
    render,
    write_series,
)


def test_same_arguments_give_identical_files(tmp_path):
    a = write_series(tmp_path / "a", shape=(4, 32, 32), seed=5)
    b = write_series(tmp_path / "b", shape=(4, 32, 32), seed=5)
    c = write_series(tmp_path / "c", shape=(4, 32, 32), seed=6)
    for fa, fb in zip(a.files, b.files, strict=True):
        assert Path(fa).read_bytes() == Path(fb).read_bytes()
    assert a.series_instance_uid == b.series_instance_uid != c.series_instance_uid


def test_uids_are_valid_and_distinct(tmp_path):
    t = write_series(tmp_path, shape=(5, 16, 16), second_phase=True)
    dss = [pydicom.dcmread(f) for f in t.files]
    uids = [ds.SOPInstanceUID for ds in dss]
    assert len(set(uids)) == len(uids) == 10
    for ds in dss:
        for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID,
                    ds.FrameOfReferenceUID):  # fmt: skip
            assert UID(uid).is_valid and len(uid) <= 64
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools not installed")
@pytest.mark.parametrize("syntax", ["explicit", "rle"])
def test_files_pass_dciodvfy(tmp_path, syntax):
    t = write_series(tmp_path, shape=(2, 32, 32), transfer_syntax=syntax, scout=True)
    for f in t.files:
        out = subprocess.run(["dciodvfy", f], capture_output=True, text=True, timeout=60)
        text = out.stdout + out.stderr
        assert "CTImage" in text
        assert "Error" not in text and "Warning" not in text, text


def test_tissues_in_realistic_hu():
    pts = {
        "air": (0, -140, 0),
        "fat": (0, -110, -50),
        "soft": (0, -80, -50),
        "liver": (-70, -10, -100),
        "lung": (75, -5, 80),
        "aorta": (20, 45, 0),
        "bone": (0, 70, 0),
    }
    hu = {k: float(body_hu(np.array(p, float))) for k, p in pts.items()}
    assert hu["air"] == -1000 and hu["lung"] == -850 and hu["fat"] == -100
    assert hu["soft"] == 40 and hu["liver"] == 60 and hu["aorta"] == 160
    assert 300 <= hu["bone"] <= 1000


@pytest.mark.parametrize("lesion", baseline_lesions(), ids=lambda les: les.lesion_id)
def test_lesion_axes_are_exact(lesion):
    ends = lesion.axis_endpoints()
    for key, length in (("long_axis_endpoints_lps", lesion.long_axis_mm),
                        ("short_axis_endpoints_lps", lesion.short_axis_mm)):  # fmt: skip
        a, b = (np.array(p) for p in ends[key])
        assert np.linalg.norm(b - a) == pytest.approx(length)
        # the weight is 0.5 exactly on the surface, inside > 0.5, outside < 0.5
        for end in (a, b):
            assert lesion_weight(end, lesion, 1.0) == pytest.approx(0.5, abs=1e-9)
            c = np.array(lesion.center_lps)
            assert lesion_weight(c + (end - c) * 0.95, lesion, 1.0) > 0.5
            assert lesion_weight(c + (end - c) * 1.05, lesion, 1.0) < 0.5


def test_lesions_sit_in_their_organs():
    for les in baseline_lesions():
        c = np.array(les.center_lps)
        host = float(body_hu(c))
        expected = {"liver": 60, "lung": -850, "lymph_node": -90}[les.organ]
        assert host == expected, les.lesion_id
        assert abs(float(render(c, [les])) - les.hu) < 1e-3


def test_followup_is_a_partial_response():
    base = baseline_lesions()
    sod0 = sum(les.short_axis_mm if les.nodal else les.long_axis_mm
               for les in base if les.kind == "target")  # fmt: skip
    sod1 = sum(FOLLOWUP_AXES[les.lesion_id][1 if les.nodal else 0]
               for les in base if les.kind == "target")  # fmt: skip
    assert (sod1 - sod0) / sod0 <= -0.30
    node = next(les for les in base if les.nodal)
    assert node.short_axis_mm >= 15


def test_defect_options_write_what_they_say(tmp_path):
    t = write_series(tmp_path / "m", shape=(6, 16, 16), missing=[2], scout=True)
    assert len(t.files) == 6  # 5 slices + scout
    zs = sorted(p[2] for p in t.positions[:-1])
    assert sorted(np.diff(zs).tolist()) == [5.0, 5.0, 5.0, 10.0]
    t = write_series(tmp_path / "t", shape=(3, 16, 16), truncate=1)
    sizes = sorted(Path(f).stat().st_size for f in t.files)
    assert sizes[0] < 0.7 * sizes[-1]
    t = write_series(tmp_path / "tilt", shape=(3, 16, 16), tilt_deg=20)
    ds = pydicom.dcmread(t.files[0])
    assert ds.GantryDetectorTilt == 20
    assert float(ds.ImageOrientationPatient[5]) == pytest.approx(np.sin(np.radians(20)))


def test_big_series_on_demand_shape(tmp_path):
    t = write_series(tmp_path, shape=(2, 512, 512), noise_hu=0)
    ds = pydicom.dcmread(t.files[0])
    assert (ds.Rows, ds.Columns) == (512, 512) and len(t.files) == 2
