"""pydicom's and pydicom-data's real CT files: HU against pydicom's own decode +
rescale (through a different decoder plugin where one exists), geometry against
SimpleITK."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from recist_tool.dicom import (
    MissingSliceError,
    MixedGeometryError,
    NotAVolumeError,
    SeriesSelectionError,
    SkippedFileWarning,
    load_series,
    scan,
)

sitk = pytest.importorskip("SimpleITK")
pytest.importorskip("data_store", reason="pydicom-data not installed")

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
DIRS = TEST_FILES / "dicomdirtests"


def data_file(name: str) -> str:
    from pydicom.data import get_testdata_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about failed downloads offline
        path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} not available")
    return str(path)


def reference(path: str, plugin: str = "") -> np.ndarray:
    """pydicom decode (optionally with another plugin) + rescale, padding → -1024."""
    from pydicom.pixels import pixel_array

    ds = pydicom.dcmread(path)
    arr = pixel_array(ds, decoding_plugin=plugin)
    arr = arr[None] if arr.ndim == 2 else arr
    slope, icpt = float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))
    if "SharedFunctionalGroupsSequence" in ds:
        pvt = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
        slope, icpt = float(pvt.RescaleSlope), float(pvt.RescaleIntercept)
    hu = arr * slope + icpt
    if "PixelPaddingValue" in ds:
        hu[arr == ds.PixelPaddingValue] = -1024
    return hu


def assert_same_geometry_as_sitk(vol, image, *, z_spacing: bool = True) -> None:
    sx, sy, sz = image.GetSpacing()
    expected = (sz, sy, sx) if z_spacing else (vol.spacing_zyx[0], sy, sx)
    np.testing.assert_allclose(vol.spacing_zyx, expected, atol=1e-4)
    np.testing.assert_allclose(vol.origin_lps, image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(vol.direction, image.GetDirection(), atol=1e-4)


def test_clean_axial_series_equals_simpleitk():
    folder = str(DIRS / "98892001" / "CT5N")
    vol = load_series(folder)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
    image = reader.Execute()
    assert vol.shape == (5, 16, 16)
    assert_same_geometry_as_sitk(vol, image)
    np.testing.assert_array_equal(vol.array, sitk.GetArrayFromImage(image))
    assert vol.array.dtype == np.int16  # SimpleITK returns int32 (twice the memory)
    # every slice's own IPP is where the volume puts it
    for k, f in enumerate(vol.metadata["files"]):
        ipp = [float(v) for v in pydicom.dcmread(f).ImagePositionPatient]
        np.testing.assert_allclose(vol.slice_position(k), ipp, atol=1e-4)


def test_series_with_gap_names_the_gap():
    folder = str(DIRS / "77654033" / "CT2")
    with pytest.raises(MissingSliceError) as exc:
        load_series(folder)
    msg = str(exc.value)
    assert "161 slice(s) missing" in msg and "17106" in msg and "17136" in msg, msg
    # SimpleITK reads it with averaged spacing instead (wrong geometry, no error)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
    sitk.ProcessObject_SetGlobalWarningDisplay(False)
    try:
        assert reader.Execute().GetSpacing()[2] != pytest.approx(1.25, abs=0.01)
    finally:
        sitk.ProcessObject_SetGlobalWarningDisplay(True)


def test_localizer_series_is_not_a_volume():
    with pytest.raises(NotAVolumeError, match="localizers"):
        load_series(str(DIRS / "98892001" / "CT2N"))
    infos = scan(DIRS / "98892001")
    by_desc = {s.series_description: s for s in infos}
    assert by_desc["Scout"].loadable is False
    assert [s.loadable for s in infos if s.series_description != "Scout"] == [True]
    # the folder holds the scout series and one volume: the volume is chosen
    assert load_series(str(DIRS / "98892001")).shape == (5, 16, 16)


def test_mr_three_plane_localizer_typed_other():
    folder = str(DIRS / "98892003" / "MR2")
    with pytest.raises(SeriesSelectionError, match="3 series found"):
        load_series(folder)
    uid = "1.3.6.1.4.1.5962.1.1.0.0.0.1196533885.18148.0.136"
    with pytest.raises(MixedGeometryError, match="mixed orientation"):
        load_series(folder, uid)


def test_ct_small_with_padding():
    path = data_file("CT_small.dcm")
    vol = load_series(path)
    np.testing.assert_array_equal(vol.array, reference(path))
    assert_same_geometry_as_sitk(vol, sitk.ReadImage(path), z_spacing=False)
    assert vol.metadata["modality"] == "CT" and vol.array.dtype == np.int16


@pytest.mark.parametrize(
    ("name", "plugin"),
    [
        ("693_UNCR.dcm", ""),
        ("693_UNCI.dcm", ""),
        ("693_J2KR.dcm", "pylibjpeg"),  # we decode J2K with gdcm: compare with openjpeg
        ("693_J2KI.dcm", "pylibjpeg"),
        ("J2K_pixelrep_mismatch.dcm", "pylibjpeg"),
        ("explicit_VR-UN.dcm", "pylibjpeg"),
        ("bad_sequence.dcm", ""),  # JPEG lossless SV1 (gdcm)
    ],
)
def test_single_real_slices(name, plugin):
    path = data_file(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about odd UIDs in some files
        vol = load_series(path)
        ref = reference(path, plugin)
        sop_uid = str(pydicom.dcmread(path).SOPInstanceUID)
    np.testing.assert_array_equal(vol.array, ref)
    assert vol.array.dtype == np.int16
    assert_same_geometry_as_sitk(vol, sitk.ReadImage(path), z_spacing=False)
    assert vol.sop_instance_uids == (sop_uid,)


def test_j2k_lossless_equals_uncompressed():
    a = load_series(data_file("693_J2KR.dcm")).array
    b = load_series(data_file("693_UNCR.dcm")).array
    np.testing.assert_array_equal(a, b)


def test_enhanced_ct_multiframe():
    path = data_file("eCT_Supplemental.dcm")
    vol = load_series(path)
    assert vol.shape == (2, 512, 512) and vol.frame_numbers == (2, 1)
    # sorted along the slice normal (0, 0, -1): frame 2 (z = -149) first
    np.testing.assert_array_equal(vol.array, reference(path)[::-1])
    assert vol.spacing_zyx == pytest.approx((10.0, 0.388672, 0.388672))
    # Same voxel positions as SimpleITK and highdicom, which keep the file's frame
    # order (and so a left-handed direction); compare every voxel's LPS position.
    image = sitk.ReadImage(path)
    np.testing.assert_array_equal(vol.array, sitk.GetArrayFromImage(image)[::-1])
    for z, y, x in [(0, 0, 0), (1, 0, 0), (0, 511, 0), (1, 100, 511)]:
        ours = vol.index_to_lps((z, y, x))
        theirs = image.TransformContinuousIndexToPhysicalPoint((x, y, 1 - z))
        np.testing.assert_allclose(ours, theirs, atol=1e-4)
    from highdicom import Image

    hd = Image.from_dataset(pydicom.dcmread(path)).get_volume()
    np.testing.assert_allclose(
        vol.index_to_lps((1, 3, 5)),
        hd.map_indices_to_reference(np.array([[0, 3, 5]]))[0],
        atol=1e-4,
    )


def test_scan_of_pydicom_test_tree():
    # TINY_ALPHA holds 50 header-only "CT" objects (a DICOMDIR test set): reported
    with pytest.warns(SkippedFileWarning, match=r"skipped 50 unreadable .*without Rows"):
        infos = scan(DIRS)
    modalities = {s.modality for s in infos}
    assert {"CT", "MR", "CR"} <= modalities
    ct5 = [s for s in infos if s.folder.endswith(os.path.join("98892001", "CT5N"))]
    assert len(ct5) == 1 and ct5[0].image_count == 5 and ct5[0].loadable
    assert ct5[0].rows == 16 and ct5[0].slice_thickness == 2.5


def test_jpeg_extended_12bit_names_the_decoder_that_would_read_it(tmp_path):
    """JPEG process 2/4 at 12 bits (pydicom's NM test file, given a patient position so
    that it is a one-slice volume): GDCM refuses 12-bit JPEG Extended through pydicom,
    and the only other decoder, pylibjpeg-libjpeg, is GPLv3 and never required. The
    error names the file and that package. (No CT in this syntax exists offline.)
    """
    from recist_tool.dicom import UnreadableFileError

    ds = pydicom.dcmread(data_file("JPEG-lossy.dcm"))
    ds.ImagePositionPatient = [0.0, 0.0, 0.0]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [1.0, 1.0]
    path = tmp_path / "nm_jpeg12.dcm"
    ds.save_as(path, enforce_file_format=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-CT modality; pydicom's decoder log
        with pytest.raises(UnreadableFileError) as err:
            load_series(path)
    text = str(err.value)
    assert str(path) in text and "JPEG Extended" in text
    assert "pip install pylibjpeg-libjpeg" in text
