"""The napari layers of each time point (mixed into ``ReadingSession``).

Each time point with a CT in the viewer gets one Shapes layer (measurement lines)
and one Points layer (markers), in the world coordinates of the series shown for it
(a time point may hold several series, e.g. chest and abdomen; the reader picks one
with :meth:`TimePointLayersMixin.show_series`). This module makes, connects, finds and
removes those layers; what is drawn into them is ``_drawing``'s part.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import pandas as pd
from napari.layers import Image, Points, Shapes

from napari_recist._drawing import _FEATURES_LINES, _FEATURES_POINTS
from napari_recist._layers import AXIS_LABELS, UNITS
from recist_tool.reading import SeriesGeometry


@dataclass
class TimePointLayers:
    """The layers of one time point: its CT image, lines and markers."""

    image: Image
    lines: Shapes
    points: Points
    geometry: SeriesGeometry

    @property
    def all(self) -> tuple[Any, Any, Any]:
        """Image, lines, points (grid order: image at the bottom)."""
        return (self.image, self.lines, self.points)


class TimePointLayersMixin:
    """The per time point layers part of :class:`napari_recist._session.ReadingSession`."""

    def layers_of(self, label: str) -> TimePointLayers | None:
        """The layers of a time point (None when it has no CT in the viewer)."""
        return self._tp.get(label)

    def show_series(self, series_uid: str) -> None:
        """Show this series for its time point (a time point may hold several, e.g.
        chest and abdomen); the time point's lines are drawn on it from now on."""
        info = self.reading.series.get(series_uid)
        if info is None or info.timepoint is None:
            return
        self._shown_series[info.timepoint] = series_uid
        self.current_tp = info.timepoint
        self._sync_tp_layers()
        self._apply_view()
        self.arm(self.active_axis, activate=False)
        self.changed.emit()

    def displayed_series(self, label: str) -> str | None:
        """UID of the series shown for a time point."""
        shown = self._display_series(label)
        return None if shown is None else shown[1].series_uid

    def _display_series(self, label: str) -> tuple[Image, SeriesGeometry] | None:
        infos = self.reading.series_of(label)
        chosen = self._shown_series.get(label)
        infos.sort(key=lambda i: i.series_uid != chosen)  # the reader's choice first
        for info in infos:
            layer = self._series_layers.get(info.series_uid)
            if layer is not None and info.geometry is not None:
                return layer, info.geometry
        return None

    def _sync_tp_layers(self) -> None:
        labels = {tp.label for tp in self.reading.timepoints}
        for label in list(self._tp):
            shown = self._display_series(label)
            if label not in labels or shown is None or shown[0] != self._tp[label].image:
                tpl = self._tp.pop(label)
                self._disconnect(tpl)
                with self._quiet():
                    for layer in (tpl.lines, tpl.points):
                        if layer in self.viewer.layers:
                            self.viewer.layers.remove(layer)
        for label in sorted(labels - set(self._tp)):
            shown = self._display_series(label)
            if shown is not None:
                self._tp[label] = self._make_tp_layers(label, *shown)
                self._render(label)

    def _make_tp_layers(self, label: str, image: Image, geo: SeriesGeometry) -> TimePointLayers:
        transform = {
            "scale": image.scale,
            "translate": image.translate,
            "affine": image.affine.affine_matrix,
            "units": UNITS,
            "axis_labels": AXIS_LABELS,
        }
        lines = Shapes(
            ndim=3,
            name=f"RECIST lines · {label}",
            features=pd.DataFrame({c: pd.Series(dtype=object) for c in _FEATURES_LINES}),
            feature_defaults={"lesion_id": "", "axis": "long", "label": ""},
            text={"string": "{label}", "color": "yellow", "size": 10, "anchor": "upper_left"},
            edge_width=1.0,
            edge_color="yellow",
            face_color="transparent",
            **transform,
        )
        points = Points(
            ndim=3,
            name=f"RECIST points · {label}",
            features=pd.DataFrame({c: pd.Series(dtype=object) for c in _FEATURES_POINTS}),
            feature_defaults={"lesion_id": "", "label": ""},
            text={"string": "{label}", "color": "cyan", "size": 10, "anchor": "upper_left"},
            size=8,
            face_color="cyan",
            border_color="white",
            **transform,
        )
        with self._quiet():
            self.viewer.layers.append(lines)
            self.viewer.layers.append(points)
        tpl = TimePointLayers(image, lines, points, geo)
        lines.events.data.connect(self._on_lines_data)
        lines.events.set_data.connect(self._on_lines_live)
        points.events.data.connect(self._on_points_data)
        return tpl

    def _disconnect(self, tpl: TimePointLayers) -> None:
        with contextlib.suppress(Exception):
            tpl.lines.events.data.disconnect(self._on_lines_data)
            tpl.lines.events.set_data.disconnect(self._on_lines_live)
            tpl.points.events.data.disconnect(self._on_points_data)

    def _label_of(self, layer: Any) -> str | None:
        for label, tpl in self._tp.items():
            if layer == tpl.lines or layer == tpl.points:
                return label
        return None
