"""Each defect built with the generator gives its named error or the correct volume."""

from __future__ import annotations

import os

import numpy as np
import pydicom
import pytest

from recist_tool.dicom import (
    DuplicatePositionError,
    GantryTiltError,
    LocalizerDroppedWarning,
    MissingSliceError,
    MixedGeometryError,
    NoDecoderError,
    NoDicomFoundError,
    NonCTModalityWarning,
    SeriesSelectionError,
    SkippedFileWarning,
    TiltResampledWarning,
    UnevenSpacingError,
    UnreadableFileError,
    load_series,
    scan,
)
from recist_tool.errors import RecistError
from recist_tool.synth.phantom import render, write_series


def reference_hu(folder) -> np.ndarray:
    """pydicom's own decode + rescale of every file, sorted by z (independent path)."""
    slices = []
    for f in sorted(os.listdir(folder)):
        ds = pydicom.dcmread(os.path.join(folder, f))
        if "PixelData" not in ds or "LOCALIZER" in ds.ImageType:
            continue
        hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        slices.append((float(ds.ImagePositionPatient[2]), hu))
    slices.sort(key=lambda t: t[0])
    return np.stack([s for _, s in slices])


@pytest.fixture(scope="module")
def clean(series_dir):
    return load_series(series_dir("clean"))


def test_clean_series_geometry_and_values(series_dir, clean, no_warnings):
    truth = series_dir.truth("clean")
    assert clean.shape == (20, 64, 64)
    assert clean.array.dtype == np.int16
    assert clean.spacing_zyx == pytest.approx((5.0, 6.25, 6.25))
    zs = sorted(p[2] for p in truth.positions)
    assert clean.origin_lps == pytest.approx((truth.positions[0][0], truth.positions[0][1], zs[0]))
    assert clean.direction == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    np.testing.assert_array_equal(clean.array, reference_hu(series_dir("clean")))
    # per-slice SOP Instance UIDs follow the array order (increasing z)
    by_uid = {pydicom.dcmread(f).SOPInstanceUID: f for f in truth.files}
    z_of = [
        float(pydicom.dcmread(by_uid[u]).ImagePositionPatient[2]) for u in clean.sop_instance_uids
    ]
    assert z_of == sorted(z_of) and len(set(clean.sop_instance_uids)) == 20
    assert clean.window == (40.0, 400.0)
    assert clean.metadata["patient_id"] == "SYNTH001"
    assert clean.slice_thickness == 5.0


def test_missing_slice_names_where(series_dir):
    folder = series_dir("missing", missing=[7])
    with pytest.raises(MissingSliceError) as exc:
        load_series(folder)
    msg = str(exc.value)
    assert str(folder) in msg and "1 slice(s) missing" in msg
    # the two neighbours of the gap (z = 0 and z = 10 mm) are named by file
    t = series_dir.truth("missing")
    names = {
        os.path.basename(f)
        for f, p in zip(t.files, t.positions, strict=True)
        if p[2] in (0.0, 10.0)
    }
    assert all(n in msg for n in names), msg
    assert isinstance(exc.value, RecistError)
    info = scan(folder)[0]
    assert not info.loadable and "missing" in info.problem


@pytest.mark.parametrize("typed", [True, False])
def test_scout_in_series_is_dropped(series_dir, clean, typed):
    folder = series_dir(f"scout{typed}", scout=True, scout_typed=typed)
    with pytest.warns(LocalizerDroppedWarning, match="left 1 image"):
        vol = load_series(folder)
    assert vol.shape == clean.shape
    np.testing.assert_array_equal(vol.array, clean.array)
    assert vol.direction == clean.direction and vol.origin_lps == clean.origin_lps
    reason = "ImageType LOCALIZER" if typed else "orientation outlier"
    assert any(reason in d for d in vol.metadata["dropped"])


def test_two_phases_are_duplicates_and_can_be_chosen(series_dir, clean):
    folder = series_dir("phases", second_phase=True)
    with pytest.raises(DuplicatePositionError, match=r"20 duplicate .*AcquisitionNumber 1, 2"):
        load_series(folder)
    vol = load_series(folder, acquisition=1)
    np.testing.assert_array_equal(vol.array, clean.array)
    art = load_series(folder, acquisition=2)
    assert art.spacing_zyx == clean.spacing_zyx  # not flipped, not halved
    assert art.array.mean() > clean.array.mean()  # denser aorta in phase 2


def test_duplicate_slice(series_dir):
    with pytest.raises(DuplicatePositionError, match="1 duplicate slice position"):
        load_series(series_dir("dup", duplicate=[4]))


def test_uneven_spacing(series_dir):
    with pytest.raises(UnevenSpacingError, match=r"gaps from 3\.500 to 6\.500 mm"):
        load_series(series_dir("uneven", uneven={5: 1.5}))


def test_mixed_size_and_orientation(series_dir):
    with pytest.raises(MixedGeometryError, match=r"mixed image size .* 64×80"):
        load_series(series_dir("size", mixed_size=3))
    with pytest.raises(MixedGeometryError, match="mixed orientation"):
        load_series(series_dir("orient", mixed_orientation=True))


def test_gantry_tilt_refused_then_resampled(series_dir):
    folder = series_dir("tilt", tilt_deg=15.0, noise_hu=0.0)
    with pytest.raises(GantryTiltError, match=r"15\.00° .*tilt='resample'"):
        load_series(folder)
    with pytest.warns(TiltResampledWarning, match="15.00°"):
        vol = load_series(folder, tilt="resample")
    # resampled onto an orthogonal grid with the tilted slice normal
    d = vol.direction_matrix
    np.testing.assert_allclose(d.T @ d, np.eye(3), atol=1e-9)
    assert vol.spacing_zyx[0] == pytest.approx(5.0 * np.cos(np.radians(15)), rel=1e-6)
    # anatomy lands where it is: compare with the phantom rendered at every voxel centre
    truth = series_dir.truth("tilt")
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in vol.shape], indexing="ij"), -1)
    expected = render(vol.index_to_lps(idx.reshape(-1, 3)), truth.lesions, edge_mm=6.25)
    err = np.abs(expected.reshape(vol.shape) - vol.array)
    assert np.median(err) < 1.0 and (err < 50).mean() > 0.95
    # without the shear correction (what SimpleITK returns) far more voxels are wrong
    raw = np.abs(expected.reshape(vol.shape) - reference_hu(folder))
    assert (raw < 50).mean() < (err < 50).mean() - 0.05


def test_truncated_file_skipped_when_series_whole(series_dir):
    folder = series_dir("trunc_end", truncate=0)
    with pytest.warns(SkippedFileWarning, match="truncated"):
        vol = load_series(folder)
    assert vol.shape[0] == 19


def test_truncated_file_in_the_middle_is_a_gap(series_dir):
    folder = series_dir("trunc_mid", truncate=5)
    with pytest.raises(MissingSliceError, match=r"unreadable file.* skipped"):
        load_series(folder)
    # the gap error says what is wrong with the skipped file, not only its name
    with pytest.raises(MissingSliceError, match=r"skipped: [^ ]+\.dcm: truncated: pixel data has"):
        load_series(folder)
    info = scan(folder)[0]
    assert "skipped: " in info.problem and ".dcm: truncated: pixel data has" in info.problem


def test_garbage_file_is_unreadable(tmp_path):
    write_series(tmp_path, shape=(3, 16, 16))
    bad = tmp_path / "IM_BROKEN.dcm"
    data = (tmp_path / os.listdir(tmp_path)[0]).read_bytes()
    bad.write_bytes(data[:200])  # header cut inside the meta group
    with pytest.warns(SkippedFileWarning, match="IM_BROKEN"):
        vol = load_series(tmp_path)
    assert vol.shape == (3, 16, 16)


@pytest.mark.parametrize(
    "syntax", ["rle", "jpeg2000", "jpegls", "jpeg_lossless", "deflated", "implicit"]
)
def test_compressed_and_other_syntaxes_equal_clean(series_dir, clean, syntax):
    vol = load_series(series_dir(syntax, transfer_syntax=syntax))
    np.testing.assert_array_equal(vol.array, clean.array)
    assert vol.spacing_zyx == clean.spacing_zyx


@pytest.mark.parametrize("syntax", ["explicit", "rle", "jpeg2000"])
def test_multiframe_enhanced_ct(series_dir, clean, syntax):
    vol = load_series(series_dir(f"multiframe-{syntax}", multiframe=True, transfer_syntax=syntax))
    np.testing.assert_array_equal(vol.array, clean.array)
    assert vol.origin_lps == pytest.approx(clean.origin_lps)
    assert vol.frame_numbers is not None and len(set(vol.sop_instance_uids)) == 1


def test_signed_12_bit_is_sign_extended(series_dir):
    folder = series_dir("signed12", signed=True, bits_stored=12, intercept=0.0)
    vol = load_series(folder)
    assert vol.array.min() == pytest.approx(-1024, abs=30)  # air, not 4096 - 1024
    np.testing.assert_array_equal(vol.array, reference_hu(folder))


def test_high_bits_above_bits_stored_are_ignored(series_dir, clean):
    vol = load_series(series_dir("garbage", high_bit_garbage=True))
    np.testing.assert_array_equal(vol.array, clean.array)


def test_unsigned_16_bit(series_dir, clean):
    vol = load_series(series_dir("u16", bits_stored=16))
    assert vol.array.dtype == np.int16
    np.testing.assert_array_equal(vol.array, clean.array)


def test_pixel_padding_becomes_air(series_dir, clean):
    vol = load_series(series_dir("pad", signed=True, bits_stored=16, padding_value=-2000))
    zyx = np.stack(np.meshgrid(*[np.arange(n) for n in vol.shape], indexing="ij"), -1)
    lps = vol.index_to_lps(zyx)
    outside = np.hypot(lps[..., 0], lps[..., 1]) > 200.0  # beyond the 400 mm field of view
    assert outside.sum() > 1000 and np.all(vol.array[outside] == -1024)
    # inside, the same HU (signed storage keeps noise below -1024 that unsigned clips)
    np.testing.assert_array_equal(np.maximum(vol.array[~outside], -1024), clean.array[~outside])


def test_per_slice_rescale_gives_float(series_dir, clean):
    folder = series_dir("slopes", vary_slope=True)
    vol = load_series(folder)
    assert vol.array.dtype == np.float32
    np.testing.assert_allclose(vol.array, reference_hu(folder), atol=1e-3)
    assert np.abs(vol.array - clean.array).max() <= 0.5


def test_non_ct_loads_stored_values_with_warning(series_dir, clean):
    folder = series_dir("mr", modality="MR")
    with pytest.warns(NonCTModalityWarning, match="MR, not CT; loaded as stored values"):
        vol = load_series(folder)
    assert vol.metadata["modality"] == "MR" and vol.metadata["values"] == "stored"
    assert vol.metadata["rescale"] == (1.0, -1024.0)
    stored = np.stack([pydicom.dcmread(f).pixel_array for f in vol.metadata["files"]])
    np.testing.assert_array_equal(vol.array, stored)
    np.testing.assert_array_equal(vol.array, clean.array + 1024)
    assert vol.window == (40.0 + 1024, 400.0)  # the window in stored values too


def test_scan_skips_non_dicom_and_non_image(series_dir, no_warnings):
    folder = series_dir("extra", extra_files=True)
    infos = scan(folder)
    assert len(infos) == 1  # the SR and the text file are not series
    s = infos[0]
    assert (s.image_count, s.rows, s.columns, s.modality, s.loadable) == (20, 64, 64, "CT", True)
    assert s.slice_thickness == 5.0 and s.transfer_syntax == "Explicit VR Little Endian"
    assert s.patient_id == "SYNTH001" and s.study_date == "20240115"


def test_several_series_must_be_chosen(tmp_path):
    study = "2.25.1234"
    b = write_series(tmp_path / "a", shape=(4, 16, 16), series_number=3, study_uid=study)
    a = write_series(tmp_path / "b", shape=(4, 16, 16), series_number=2, study_uid=study)
    with pytest.raises(SeriesSelectionError) as exc:
        load_series(tmp_path)
    assert a.series_instance_uid in str(exc.value) and b.series_instance_uid in str(exc.value)
    vol = load_series(tmp_path, b.series_instance_uid)
    assert vol.metadata["series_instance_uid"] == b.series_instance_uid
    with pytest.raises(SeriesSelectionError, match=r"no series with SeriesInstanceUID 1\.2\.3"):
        load_series(tmp_path, "1.2.3")
    assert [s.series_number for s in scan(tmp_path)] == [2, 3]


def test_no_dicom(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(NoDicomFoundError, match="no DICOM image found"):
        load_series(tmp_path)
    with pytest.raises(NoDicomFoundError, match="no such file"):
        scan(tmp_path / "absent")


def test_missing_decoder_names_package(series_dir, monkeypatch):
    folder = series_dir("jls", transfer_syntax="jpegls")
    from pydicom.pixels.decoders.base import get_decoder
    from pydicom.uid import JPEGLSLossless

    dec = get_decoder(JPEGLSLossless)
    monkeypatch.setattr(type(dec), "available_plugins", property(lambda self: ()))
    with pytest.raises(NoDecoderError, match="pip install pyjpegls"):
        load_series(folder)
    assert "pyjpegls" in scan(folder)[0].problem


def test_undecodable_pixel_data_is_named(tmp_path):
    from pydicom.encaps import encapsulate, generate_frames

    t = write_series(tmp_path, shape=(8, 16, 16), transfer_syntax="rle")  # decoded in threads
    ds = pydicom.dcmread(t.files[1])
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([b"\x0f\x00\x00\x00" + frame[4:]])  # 15 RLE segments: wrong
    ds.save_as(t.files[1])
    with pytest.raises(
        UnreadableFileError, match=os.path.basename(t.files[1]) + ": cannot decode RLE"
    ):
        load_series(tmp_path)


def test_unsigned_16_bit_with_large_stored_values(series_dir, clean):
    """Stored values above 32767 (intercept -32768) still give int16 HU."""
    folder = series_dir("u16big", bits_stored=16, intercept=-32768.0)
    vol = load_series(folder)
    assert vol.array.dtype == np.int16
    np.testing.assert_array_equal(vol.array, reference_hu(folder))
    assert np.abs(vol.array - clean.array.astype(int)).max() <= 1  # float32 rounding in the writer


def test_values_beyond_int16_become_float32(tmp_path):
    t = write_series(tmp_path, shape=(3, 16, 16), bits_stored=16, intercept=0.0)
    ds = pydicom.dcmread(t.files[1])
    arr = ds.pixel_array.copy()
    arr[0, :4] = 60000  # stored (= HU here) beyond int16
    ds.PixelData = arr.tobytes()
    ds.save_as(t.files[1])
    vol = load_series(tmp_path)
    assert vol.array.dtype == np.float32
    assert vol.array.max() == 60000.0
    np.testing.assert_array_equal(vol.array, reference_hu(tmp_path))
