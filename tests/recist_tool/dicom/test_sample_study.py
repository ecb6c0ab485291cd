"""The committed sample study round-trips: truth measured from the loaded volumes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from recist_tool.dicom import load_series, scan

SAMPLE = Path(__file__).resolve().parents[3] / "sample_dicom"


@pytest.fixture(scope="module")
def truth():
    return json.loads((SAMPLE / "truth.json").read_text())


@pytest.fixture(scope="module")
def volumes(truth):
    return {tp["timepoint"]: load_series(SAMPLE / tp["folder"]) for tp in truth["timepoints"]}


def measured_extent(vol, centre, end_a, end_b, lesion_hu) -> float:
    """Length (mm) of the thresholded lesion along the line through ``end_a``/``end_b``.

    Samples the volume (linear interpolation) along the axis, extended by 50 %, and
    keeps the run of samples nearer the lesion HU than the surrounding tissue HU.
    """
    a, b = np.asarray(end_a), np.asarray(end_b)
    c = np.asarray(centre)
    u = (b - a) / np.linalg.norm(b - a)
    half = np.linalg.norm(b - a) / 2
    t = np.linspace(-1.5 * half, 1.5 * half, 1201)
    pts = c + t[:, None] * u
    prof = map_coordinates(vol.array.astype(np.float32), vol.lps_to_index(pts).T, order=1)
    # surrounding tissue: the median of the profile's outer ends
    outer = np.median(np.r_[prof[:150], prof[-150:]])
    thr = (outer + lesion_hu) / 2
    inside = prof < thr if lesion_hu < outer else prof > thr
    mid = len(t) // 2
    assert inside[mid], "lesion centre not inside the thresholded lesion"
    lo = mid
    while lo > 0 and inside[lo - 1]:
        lo -= 1
    hi = mid
    while hi < len(t) - 1 and inside[hi + 1]:
        hi += 1
    return float(t[hi] - t[lo])


def test_sample_is_small_and_complete(truth):
    size = sum(f.stat().st_size for f in SAMPLE.rglob("*") if f.is_file())
    assert size <= 10 * 1024 * 1024
    infos = scan(SAMPLE)
    assert len(infos) == 2 and all(s.loadable and s.modality == "CT" for s in infos)
    assert {s.series_instance_uid for s in infos} == {
        tp["series_instance_uid"] for tp in truth["timepoints"]
    }
    assert truth["sod_change_percent"] <= -30  # a partial response


def test_geometry_matches_truth(truth, volumes):
    for tp in truth["timepoints"]:
        vol = volumes[tp["timepoint"]]
        assert list(vol.shape) == tp["shape_zyx"]
        assert vol.pixel_spacing == pytest.approx(tuple(tp["pixel_spacing_mm"]))
        assert vol.spacing_zyx[0] == pytest.approx(tp["slice_spacing_mm"])
        assert vol.slice_thickness <= 5.0
        for les in tp["lesions"]:  # every lesion centre lies on a slice
            z = vol.lps_to_index(les["center_lps"])[0]
            assert z == pytest.approx(round(z), abs=1e-6)


def test_lesion_axes_measured_within_one_voxel(truth, volumes):
    for tp in truth["timepoints"]:
        vol = volumes[tp["timepoint"]]
        voxel = max(vol.pixel_spacing)
        for les in tp["lesions"]:
            for axis, key in (("long", "long_axis_mm"), ("short", "short_axis_mm")):
                a, b = les[f"{axis}_axis_endpoints_lps"]
                got = measured_extent(vol, les["center_lps"], a, b, les["hu"])
                assert got == pytest.approx(les[key], abs=voxel), (
                    f"{tp['timepoint']} {les['lesion_id']} {axis}: {got:.2f} vs {les[key]}"
                )


def test_annotations_match_truth(truth):
    from recist_tool.annotations import read_annotations

    df = read_annotations([SAMPLE / "annotations.csv"])
    for tp in truth["timepoints"]:
        rows = df[df["timepoint"] == tp["timepoint"]]
        assert set(rows["series_uid"]) == {tp["series_instance_uid"]}
        for les in tp["lesions"]:
            row = rows[rows["lesion_id"] == les["lesion_id"]].iloc[0]
            assert row["kind"] == les["kind"] and bool(row["nodal"]) == les["nodal"]
            if les["kind"] == "target":
                assert row["long_axis_mm"] == les["long_axis_mm"]
                assert row["short_axis_mm"] == les["short_axis_mm"]
                assert row["status"] == "measured"
    node = df[(df["lesion_id"] == "N1") & (df["timepoint"] == "baseline")].iloc[0]
    assert node["short_axis_mm"] >= 15  # a measurable (pathological) node at baseline


def test_sample_regenerates_identically(tmp_path, truth):
    from recist_tool.synth.phantom import write_sample_study

    again = write_sample_study(tmp_path)
    assert again == truth
    import numpy as np
    import pydicom

    for f in sorted((SAMPLE / "baseline").iterdir())[:3]:
        a, b = pydicom.dcmread(tmp_path / "baseline" / f.name), pydicom.dcmread(f)
        # the same header and the same pixels; the RLE bytes may differ with the
        # encoder's version (lossless both: pylibjpeg-rle 2.0 on numpy 1.26 at the
        # lowest supported versions encodes runs differently)
        assert [e for e in a if e.keyword != "PixelData"] == [
            e for e in b if e.keyword != "PixelData"
        ]
        own = ("ImplementationClassUID", "ImplementationVersionName")  # pydicom's version
        assert [e for e in a.file_meta if e.keyword not in own] == [
            e for e in b.file_meta if e.keyword not in own
        ]
        assert np.array_equal(a.pixel_array, b.pixel_array)
