"""The reader: layers in patient millimetres and HU; None for non-DICOM; errors notified."""

from __future__ import annotations

import math

import numpy as np
import pydicom
import pytest
from napari.layers import Image
from napari_recist._layers import SERIES_KEY, image_layer_data, transform_kwargs
from napari_recist._reader import napari_get_reader
from napari_recist._session import PLUGIN

from recist_tool.reading import SeriesGeometry


def _first_slice_position(folder) -> np.ndarray:
    """ImagePositionPatient of the most inferior slice, read with pydicom."""
    pos = [
        [float(v) for v in pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient]
        for f in sorted(folder.glob("*.dcm"))
    ]
    return np.array(min(pos, key=lambda p: p[2]))


def test_open_sample_gives_hu_layers_in_patient_mm(make_napari_viewer, sample_path, truth):
    viewer = make_napari_viewer()
    layers = viewer.open(sample_path, plugin=PLUGIN)
    assert [type(la) for la in layers] == [Image, Image]
    for layer, tp in zip(layers, truth["timepoints"], strict=True):
        assert layer.metadata[SERIES_KEY]["series_uid"] == tp["series_instance_uid"]
        dy, dx = tp["pixel_spacing_mm"]
        np.testing.assert_allclose(layer.scale, [tp["slice_spacing_mm"], dy, dx])
        ipp = _first_slice_position(sample_path / tp["folder"])
        np.testing.assert_allclose(layer.translate, ipp[::-1])
        assert layer.data.shape == tuple(tp["shape_zyx"])
        assert layer.data.dtype == np.int16
        assert [str(u) for u in layer.units] == ["millimeter"] * 3
        assert tuple(layer.contrast_limits) == (-160.0, 240.0)  # window C 40 / W 400
        for lesion in tp["lesions"]:
            # world = patient LPS reversed; the lesion's centre voxel holds its HU.
            idx = np.round(layer.world_to_data(np.array(lesion["center_lps"])[::-1]))
            value = float(layer.data[tuple(idx.astype(int))])
            assert value == pytest.approx(lesion["hu"], abs=30), lesion["lesion_id"]
    air = float(layers[0].data[0, 2, 2])
    assert air == pytest.approx(-1000, abs=30)


def test_oblique_series_get_an_affine_that_maps_voxels_to_patient_mm(make_napari_viewer):
    # Rotated in the axial plane (a patient not aligned with the table).
    t = math.radians(25)
    geo = SeriesGeometry(
        "1.2.3",
        origin_lps=(-100.0, 40.0, 12.5),
        spacing_zyx=(3.0, 0.9, 0.8),
        direction=(math.cos(t), -math.sin(t), 0, math.sin(t), math.cos(t), 0, 0, 0, 1),
    )
    kwargs = transform_kwargs(geo)
    assert "affine" in kwargs
    layer = make_napari_viewer().add_image(np.zeros((5, 6, 7), np.int16), **kwargs)
    for idx in ([0, 0, 0], [4, 5, 6], [2.5, 1.0, 3.25]):
        world = layer.data_to_world(np.array(idx, float))
        np.testing.assert_allclose(world, geo.index_to_lps(idx)[::-1], atol=1e-9)
    axial = SeriesGeometry("1", (1.0, 2.0, 3.0), (5.0, 0.7, 0.7))
    assert transform_kwargs(axial) == {"scale": (5.0, 0.7, 0.7), "translate": (3.0, 2.0, 1.0)}


def test_non_dicom_input_is_left_to_other_readers(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)
    assert napari_get_reader(str(tmp_path)) is None
    assert napari_get_reader(str(tmp_path / "notes.txt")) is None
    assert napari_get_reader(str(tmp_path / "missing")) is None
    assert napari_get_reader([str(tmp_path), str(tmp_path)]) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert napari_get_reader(str(empty)) is None


def test_dicom_folders_and_files_are_claimed(sample_path):
    assert napari_get_reader(str(sample_path)) is not None
    one = next((sample_path / "baseline").glob("*.dcm"))
    assert napari_get_reader(str(one)) is not None


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on the garbage bytes
def test_an_invalid_dicom_folder_shows_an_error_notification(
    make_napari_viewer, tmp_path, notifications
):
    bad = tmp_path / "broken_study"
    bad.mkdir()
    # DICOM preamble and magic, then garbage: claimed by the reader, refused by the loader.
    (bad / "IM0001.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage" * 3)
    viewer = make_napari_viewer()
    layers = viewer.open(bad, plugin=PLUGIN)
    assert layers == [] and len(viewer.layers) == 0
    errors = [m for sev, m in notifications if sev == "error"]
    assert errors and "broken_study" in errors[0] and errors[0].startswith("recist:")


def test_layer_data_of_a_volume_carries_series_metadata():
    from recist_tool.dicom import Volume

    vol = Volume(
        array=np.full((3, 4, 4), 40, np.int16),
        spacing_zyx=(2.0, 0.5, 0.5),
        origin_lps=(10.0, 20.0, 30.0),
        direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
        slice_thickness=2.0,
        sop_instance_uids=("1.1", "1.2", "1.3"),
        window=None,
        metadata={"series_instance_uid": "9.9", "series_number": 7, "study_date": "20240301"},
    )
    data, kwargs, kind = image_layer_data(vol, folder="/x")
    assert kind == "image" and data is vol.array
    assert kwargs["translate"] == (30.0, 20.0, 10.0) and kwargs["scale"] == (2.0, 0.5, 0.5)
    assert kwargs["contrast_limits"] == (-160.0, 240.0)  # soft tissue when no window
    series = kwargs["metadata"][SERIES_KEY]
    assert series["study_date"] == "2024-03-01"
    assert series["geometry"]["sop_instance_uids"] == ["1.1", "1.2", "1.3"]


def test_loader_warnings_become_notifications(make_napari_viewer, tmp_path, notifications):
    from recist_tool.synth.phantom import write_series

    write_series(tmp_path / "ct", shape=(6, 32, 32), truncate=5)  # last slice truncated
    layers = make_napari_viewer().open(tmp_path / "ct", plugin=PLUGIN)
    assert layers[0].data.shape == (5, 32, 32)
    warned = [m for sev, m in notifications if sev == "warning"]
    assert any("truncated" in m and "the rest of the series is whole" in m for m in warned)
