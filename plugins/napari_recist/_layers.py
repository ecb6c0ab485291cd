"""Pure conversions between core types and napari layer arguments (no Qt).

World coordinates of every layer the plugin makes are patient millimetres in
napari's ``(z, y, x)`` axis order, i.e. the LPS position reversed: ``(S, P, L)``.
Series with a plain axial grid get ``scale``/``translate``; others also get an
``affine`` holding their direction cosines, so all series share one world.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recist_tool.reading import SeriesGeometry, SeriesInfo

#: Metadata key holding the :class:`recist_tool.reading.SeriesInfo` dict of a layer.
SERIES_KEY = "recist_series"
#: Metadata key of the study folder a layer was read from.
FOLDER_KEY = "recist_folder"
#: World axis names (patient axes in napari's order).
AXIS_LABELS = ("S", "P", "L")
UNITS = ("mm", "mm", "mm")
#: Window presets (level, width) in HU.
WINDOWS: dict[str, tuple[float, float]] = {
    "soft tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "liver": (60.0, 160.0),
    "bone": (400.0, 1800.0),
    "mediastinum": (50.0, 350.0),
}


def window_limits(level: float, width: float) -> tuple[float, float]:
    """Contrast limits of a window given as level (centre) and width."""
    return (float(level) - float(width) / 2.0, float(level) + float(width) / 2.0)


def transform_kwargs(geometry: SeriesGeometry) -> dict[str, Any]:
    """``scale``/``translate`` (and ``affine`` when not axial) putting a layer in
    patient millimetres (world = reversed LPS)."""
    origin_world = np.asarray(geometry.origin_lps, dtype=float)[::-1]
    if geometry.is_axial:
        return {"scale": tuple(geometry.spacing_zyx), "translate": tuple(origin_world)}
    # world_zyx = R_zyx @ (spacing * index) + origin_zyx, R the direction in zyx order
    d = np.asarray(geometry.direction, dtype=float).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = d[::-1, ::-1]
    affine[:3, 3] = origin_world
    return {"scale": tuple(geometry.spacing_zyx), "translate": (0.0, 0.0, 0.0), "affine": affine}


def image_layer_data(volume: Any, folder: str = "") -> tuple[np.ndarray, dict[str, Any], str]:
    """napari layer data tuple of a loaded :class:`recist_tool.dicom.Volume`."""
    info = SeriesInfo.from_volume(volume)
    if volume.window:
        limits = window_limits(*volume.window)
    else:
        limits = window_limits(*WINDOWS["soft tissue"])
    number = "" if info.series_number is None else f"#{info.series_number} "
    name = f"{number}{info.description or 'CT'} {info.study_date}".strip()
    kwargs = {
        "name": name,
        "colormap": "gray",
        "contrast_limits": limits,
        "units": UNITS,
        "axis_labels": AXIS_LABELS,
        "metadata": {
            SERIES_KEY: info.to_dict(),
            FOLDER_KEY: folder,
            "dicom": dict(volume.metadata),
        },
        **transform_kwargs(info.geometry),
    }
    return volume.array, kwargs, "image"


def series_of_layer(layer: Any) -> SeriesInfo | None:
    """The series record of an image layer made by this plugin (None otherwise)."""
    meta = getattr(layer, "metadata", None) or {}
    data = meta.get(SERIES_KEY)
    return SeriesInfo.from_dict(data) if isinstance(data, dict) else None


def set_points_data(layer: Any, data: Any) -> None:
    """Set a Points layer's data, also while it is hidden.

    napari 0.9 does not re-slice a hidden layer: when its data shrinks, the layer keeps
    the old view indices, and the next redraw with a new scale (a zoom, another time
    point's transforms) fails in its text (``IndexError: index 0 is out of bounds``)
    — an error on every time-point switch after a line was drawn. The data is set
    while the layer is shown (no draw happens in between), then it is hidden again.
    """
    hidden = not layer.visible and len(data) < len(layer.data)
    if hidden:
        layer.visible = True
    layer.data = data
    if hidden:
        layer.visible = False
