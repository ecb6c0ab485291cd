"""A pane: one viewer showing one time point, with that time point's layers only.

The reading session has two panes: *current* (napari's own viewer) and *comparison*
(a separate :class:`napari.components.ViewerModel` with its own camera and layer
list, drawn by a second canvas in the Qt widget). A :class:`Pane` holds the layers of
the one time point it shows — its CT image, the measurement lines, the ring markers,
the labels and the live length read-out — so a mouse event on a pane's canvas can only
reach that time point's layers: an edit lands in the time point of the pane it was
made in, whatever layer is selected elsewhere. Switching the time point of a pane
removes its layers and makes new ones. Two text overlays show the pane's title (time
point, date, slice position, editable or read-only) and the values under the cursor.
No Qt here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from napari.components.overlays import TextOverlay
from napari.layers import Image, Points, Shapes

from napari_recist._layers import AXIS_LABELS, UNITS
from napari_recist._settings import ViewSettings
from recist_tool.reading import SeriesGeometry

FEATURES_LINES = ("lesion_id", "axis")
FEATURES_POINTS = ("lesion_id",)
#: Colours of the pane title: the pane edits land in, read-only, unlocked.
TITLE_COLORS = {"editing": "#66ff66", "read-only": "#b0b0b0", "unlocked": "#ffa94d"}


@dataclass
class PaneLayers:
    """The layers of the time point a pane shows."""

    timepoint: str
    image: Image
    lines: Shapes
    points: Points
    labels: Points
    live: Points
    geometry: SeriesGeometry

    @property
    def all(self) -> tuple[Any, ...]:
        """Every layer of the pane, image first."""
        return (self.image, self.lines, self.points, self.labels, self.live)

    @property
    def editable_layers(self) -> tuple[Any, Any]:
        """The layers a reader draws in."""
        return (self.lines, self.points)

    def slice_positions(self) -> np.ndarray:
        """World z (patient S, mm) of each slice centre of the image."""
        n = int(self.image.data.shape[0])
        idx = np.zeros((n, 3))
        idx[:, 0] = np.arange(n)
        idx[:, 1] = (self.image.data.shape[1] - 1) / 2
        idx[:, 2] = (self.image.data.shape[2] - 1) / 2
        return self.geometry.index_to_lps(idx)[:, 2]


class Pane:
    """One viewer showing one time point (see the module).

    Parameters
    ----------
    name : str
        ``"current"`` or ``"comparison"``.
    viewer : napari.Viewer or napari.components.ViewerModel
    settings : ViewSettings
    quiet : callable
        Context manager under which layer insertions and removals are the session's
        own (not the reader opening or deleting layers).
    owns_image : bool
        The comparison pane makes its own image layer (and drops it when switching);
        the current pane shows the reader's image layer and parks it when switching.
    """

    def __init__(
        self,
        name: str,
        viewer: Any,
        settings: ViewSettings,
        quiet: Callable[[], contextlib.AbstractContextManager[None]],
        owns_image: bool,
    ) -> None:
        self.name = name
        self.viewer = viewer
        self.settings = settings
        self._quiet = quiet
        self.owns_image = owns_image
        self.layers: PaneLayers | None = None
        self.state = "editing"
        self.title = TextOverlay(
            text="", position="top_left", font_size=10, box=True, visible=False
        )
        self.cursor_text = TextOverlay(
            text="", position="bottom_left", font_size=10, box=True, visible=False
        )
        overlays = viewer.canvas.overlays
        overlays["recist_title"] = self.title
        overlays["recist_cursor"] = self.cursor_text

    @property
    def timepoint(self) -> str | None:
        """The time point shown (None when none)."""
        return None if self.layers is None else self.layers.timepoint

    def show(self, label: str, image: Image, geometry: SeriesGeometry) -> PaneLayers:
        """Show ``label``: ``image`` and new annotation layers for it."""
        self.clear()
        transform = {
            "scale": image.scale,
            "translate": image.translate,
            "affine": image.affine.affine_matrix,
            "units": UNITS,
            "axis_labels": AXIS_LABELS,
        }
        s = self.settings
        lines = Shapes(
            ndim=3,
            name=f"RECIST lines · {label}",
            features=pd.DataFrame({c: pd.Series(dtype=object) for c in FEATURES_LINES}),
            feature_defaults={"lesion_id": "", "axis": "long"},
            edge_width=1.0,
            edge_color="yellow",
            face_color="transparent",
            **transform,
        )
        points = Points(
            ndim=3,
            name=f"RECIST markers · {label}",
            features=pd.DataFrame({c: pd.Series(dtype=object) for c in FEATURES_POINTS}),
            feature_defaults={"lesion_id": ""},
            symbol="ring",
            size=s.marker_mm,
            face_color="cyan",
            border_width=0,
            **transform,
        )
        text = {"string": "{label}", "size": s.label_px, "anchor": "center", "color": "yellow"}
        labels = Points(
            ndim=3,
            name=f"RECIST labels · {label}",
            features=pd.DataFrame({"label": pd.Series(dtype=object)}),
            text=dict(text),
            size=0.01,
            face_color="transparent",
            border_width=0,
            **transform,
        )
        live = Points(
            ndim=3,
            name="RECIST length",
            features=pd.DataFrame({"label": pd.Series(dtype=object)}),
            text={**text, "color": "white"},
            size=0.01,
            face_color="transparent",
            border_width=0,
            visible=False,
            **transform,
        )
        with self._quiet():
            if image not in self.viewer.layers:
                self.viewer.layers.insert(0, image)
            image.visible = True
            for layer in (lines, points, labels, live):
                self.viewer.layers.append(layer)
        for layer in (labels, live):
            layer.editable = False
        self.layers = PaneLayers(label, image, lines, points, labels, live, geometry)
        self.title.visible = True
        return self.layers

    def clear(self) -> None:
        """Remove the pane's layers (the current pane keeps the reader's image layer
        object, parked outside the viewer)."""
        if self.layers is None:
            return
        pl, self.layers = self.layers, None
        with self._quiet():
            for layer in pl.all:
                if layer in self.viewer.layers:
                    self.viewer.layers.remove(layer)
        self.title.visible = False
        self.cursor_text.visible = False

    def set_state(self, state: str, active: bool) -> None:
        """``editing``, ``read-only`` or ``unlocked``; ``active``: the reader's pane."""
        self.state = state
        pl = self.layers
        if pl is not None:
            editable = state in ("editing", "unlocked")
            for layer in pl.editable_layers:
                if layer.editable != editable:
                    layer.editable = editable
        self.title.color = TITLE_COLORS[state]
        self.title.box_color = (0.15, 0.35, 0.15, 0.85) if active else (0.0, 0.0, 0.0, 0.6)

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """The session's quiet context (programmatic layer edits)."""
        with self._quiet():
            yield
