"""A pane: one viewer showing one time point, with that time point's layers only.

The reading session has two panes: *current* (napari's own viewer) and *comparison*
(a separate :class:`napari.components.ViewerModel` with its own camera and layer
list, drawn by a second canvas in the Qt widget). A :class:`Pane` holds the layers of
the one time point it shows — its CT image, the measurement lines, the ring markers,
the labels and the live length read-out — so a mouse event on a pane's canvas can only
reach that time point's layers: an edit lands in the time point of the pane it was
made in, whatever layer is selected elsewhere. Switching the time point of a pane
empties its layers and fills them with the other time point's image and marks (the
layers themselves are reused: napari runs a garbage collection on every layer
removal). Two text overlays show the pane's title (time
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

from napari_recist._layers import AXIS_LABELS, UNITS, set_points_data
from napari_recist._settings import ViewSettings
from recist_tool.reading import SeriesGeometry, SeriesInfo

FEATURES_LINES = ("lesion_id", "axis")
FEATURES_POINTS = ("lesion_id",)
#: Colours of the pane title: the pane edits land in, read-only, unlocked.
TITLE_COLORS = {"editing": "#66ff66", "read-only": "#b0b0b0", "unlocked": "#ffa94d"}
#: Characters of the titles, read-outs and labels, drawn once by :meth:`Pane.warm_up`
#: (napari renders each new character of a canvas's text as a distance-field glyph,
#: several milliseconds each).
WARM_TEXT = (
    "baseline FU0123456789 · editing read-only UNLOCKED: edits land here\n"
    "slice /S.- mm HU LPS P L T N NT SA ( ) , = + % abcdfghjkmopqrtuvwxyz"
)


@dataclass
class SeriesSource:
    """A loaded series: its voxel array and the image layer keywords the reader made
    (``napari_recist._layers.image_layer_data``), with its series record."""

    data: Any
    kwargs: dict[str, Any]
    info: SeriesInfo

    @property
    def transform(self) -> dict[str, Any]:
        """``scale``, ``translate`` and ``affine`` of the series (world = patient mm)."""
        kw = self.kwargs
        affine = kw.get("affine")
        return {
            "scale": tuple(kw.get("scale", (1.0, 1.0, 1.0))),
            "translate": tuple(kw.get("translate", (0.0, 0.0, 0.0))),
            "affine": np.eye(4) if affine is None else np.asarray(affine, float),
        }


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
    source: SeriesSource | None = None

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
        return slice_positions(self.geometry, self.image.data.shape)


def slice_positions(geometry: Any, shape: tuple[int, ...]) -> np.ndarray:
    """World z (patient S, mm) of each slice centre of a series of ``shape`` (z, y, x)."""
    n = int(shape[0])
    idx = np.zeros((n, 3))
    idx[:, 0] = np.arange(n)
    idx[:, 1] = (shape[1] - 1) / 2
    idx[:, 2] = (shape[2] - 1) / 2
    return geometry.index_to_lps(idx)[:, 2]


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
    """

    def __init__(
        self,
        name: str,
        viewer: Any,
        settings: ViewSettings,
        quiet: Callable[[], contextlib.AbstractContextManager[None]],
    ) -> None:
        self.name = name
        self.viewer = viewer
        self.settings = settings
        self._quiet = quiet
        self._layers: PaneLayers | None = None
        self.shown = False
        self.warming = False
        self.state = "editing"
        self._box_color: tuple[float, ...] = (0.0, 0.0, 0.0, 0.6)
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
    def layers(self) -> PaneLayers | None:
        """The layers of the time point shown (None while the pane shows none)."""
        return self._layers if self.shown else None

    @property
    def timepoint(self) -> str | None:
        """The time point shown (None when none)."""
        return None if self.layers is None else self.layers.timepoint

    def owns(self, layer: Any) -> bool:
        """Whether ``layer`` is one of the pane's layers."""
        return self._layers is not None and any(layer is x for x in self._layers.all)

    def forget(self) -> None:
        """The reader deleted one of the pane's layers: make new ones next time."""
        self.warming = False
        if self._layers is not None:
            with self._quiet():
                for layer in self._layers.all:
                    if layer in self.viewer.layers:
                        self.viewer.layers.remove(layer)
        self._layers = None
        self.shown = False

    def prepare(self) -> None:
        """Make the pane's layers now, empty and hidden, so that opening a study only
        fills them (napari's cost of adding a layer — its visual, layer list entry and
        controls — is paid when the widget opens, not when the reader opens a study)."""
        if self._layers is not None:
            return
        geo = SeriesGeometry("", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
        blank = SeriesSource(
            # two slices: napari shows the slice slider now, at docking; with one
            # slice it appeared when the first study was opened, and the canvas,
            # resized under it, repainted in the middle of the open
            np.zeros((2, 2, 2), np.int16),
            {
                "name": "RECIST image",
                "colormap": "gray",
                "metadata": {},
                "units": UNITS,
                "axis_labels": AXIS_LABELS,
            },
            SeriesInfo("", geometry=geo),
        )
        self._layers = self._make("–", blank, blank.transform)
        self._layers.source = None
        self.shown = True
        self.clear()

    def warm_up(self) -> bool:
        """Show the prepared (empty) layers and the title, fully transparent, until
        :meth:`end_warm_up`: the next draw of the canvas builds the shader programs
        of every visual an opened study shows and the glyphs of its texts, so the
        first study opened is drawn without that cost (napari pays it on the first
        draw of each visual in each canvas). Nothing is visible meanwhile. True when
        the pane started warming (it must be prepared and show nothing)."""
        pl = self._layers
        if pl is None or self.shown or self.warming:
            return False
        self.warming = True
        with self._quiet():
            for layer in (pl.image, pl.lines, pl.points, pl.labels):
                layer.opacity = 0.0
                layer.visible = True
        self.title.opacity = 0.0
        self.title.text = WARM_TEXT
        self.title.visible = True
        return True

    def end_warm_up(self, hide: bool = True) -> None:
        """Back to the prepared state (``hide``: layers and title hidden again)."""
        if not self.warming:
            return
        self.warming = False
        pl = self._layers
        with self._quiet():
            for layer in () if pl is None else (pl.image, pl.lines, pl.points, pl.labels):
                if hide and not self.shown:
                    layer.visible = False
                layer.opacity = 1.0
        if hide and not self.shown:
            self._blank_title()
        else:
            self.title.text = ""
        self.title.opacity = 1.0

    def show(self, label: str, source: SeriesSource, reveal: bool = True) -> PaneLayers:
        """Show time point ``label`` with the series ``source``.

        The pane's layers are made once and then reused: switching time point swaps
        the image data, transforms and names (napari collects garbage on every layer
        removal, which costs a reader hundreds of milliseconds per switch). With
        ``reveal=False`` hidden layers stay hidden until :meth:`reveal` (napari
        slices a visible layer on every change of the slice: the caller moves to the
        slice first)."""
        self.end_warm_up(hide=not reveal)
        tf = source.transform
        geometry = source.info.geometry
        assert geometry is not None
        pl = self._layers
        if pl is not None and all(layer in self.viewer.layers for layer in pl.all):
            self._retarget(pl, label, source)
        else:
            self.forget()
            pl = self._make(label, source, tf)
        pl.timepoint, pl.geometry, pl.source = label, geometry, source
        self._layers = pl
        self.shown = True
        if reveal:
            self.reveal()
        return pl

    def reveal(self) -> None:
        """Make the shown time point's layers and title visible: the image, the lines,
        and the markers and labels when there are any (else :meth:`show_layer`, when
        the first one comes or the marker tool is armed: napari updates the scene for
        every layer shown, ~3 ms each, in every open)."""
        pl = self.layers
        if pl is None:
            return
        with self._quiet():
            marks = [layer for layer in (pl.points, pl.labels) if len(layer.data)]
            for layer in (pl.image, pl.lines, *marks):
                if not layer.visible:
                    layer.visible = True
        self.title.box_color = self._box_color
        self.title.visible = True

    def _make(self, label: str, source: SeriesSource, tf: dict[str, Any]) -> PaneLayers:
        s = self.settings
        common = {**tf, "units": UNITS, "axis_labels": AXIS_LABELS}
        image = Image(source.data, **{**source.kwargs, "metadata": dict(source.kwargs["metadata"])})
        lines = Shapes(
            ndim=3,
            name=f"RECIST lines · {label}",
            features=pd.DataFrame({c: pd.Series(dtype=object) for c in FEATURES_LINES}),
            feature_defaults={"lesion_id": "", "axis": "long"},
            edge_width=1.0,
            edge_color="yellow",
            face_color="transparent",
            **common,
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
            **common,
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
            **common,
        )
        live = Points(
            ndim=3,
            name=f"RECIST length · {self.name}",
            features=pd.DataFrame({"label": pd.Series(dtype=object)}),
            text={**text, "color": "white"},
            size=0.01,
            face_color="transparent",
            border_width=0,
            visible=False,
            **common,
        )
        with self._quiet():
            self.viewer.layers.insert(0, image)
            for layer in (lines, points, labels, live):
                self.viewer.layers.append(layer)
        for layer in (labels, live):
            layer.editable = False
        assert source.info.geometry is not None
        return PaneLayers(label, image, lines, points, labels, live, source.info.geometry, source)

    def _retarget(self, pl: PaneLayers, label: str, source: SeriesSource) -> None:
        tf = source.transform
        kw = source.kwargs
        with self._quiet():
            for layer in (pl.lines, pl.points, pl.labels, pl.live):
                _empty(layer)
            image = pl.image
            if pl.source is None or pl.source.data is not source.data:
                image.data = source.data
                if "contrast_limits" in kw:
                    image.contrast_limits = kw["contrast_limits"]
            image.metadata = dict(kw["metadata"])
            image.name = kw.get("name", image.name)
            _set_transforms(pl.all, tf)
            pl.lines.name = f"RECIST lines · {label}"
            pl.points.name = f"RECIST markers · {label}"
            pl.labels.name = f"RECIST labels · {label}"

    def clear(self) -> None:
        """Show nothing (the layers stay, hidden, for the next time point)."""
        if self._layers is None or not self.shown:
            self.shown = False
            return
        self.shown = False
        with self._quiet():
            for layer in self._layers.all:
                if layer.visible:
                    layer.visible = False
        self._blank_title()
        self.cursor_text.visible = False

    def show_layer(self, layer: Any) -> None:
        """Make a layer of the shown time point visible (once the pane is revealed)."""
        pl = self.layers
        if pl is not None and pl.image.visible and not layer.visible:
            with self._quiet():
                layer.visible = True

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
        self._box_color = (0.15, 0.35, 0.15, 0.85) if active else (0.0, 0.0, 0.0, 0.6)
        if self.shown:
            self.title.box_color = self._box_color

    def _blank_title(self) -> None:
        """The title shows nothing: no text, a transparent box. It stays visible once
        shown: napari takes a hidden text overlay's box out of the scene and puts it
        back when the overlay is shown again, and vispy then builds the box's shader
        program anew at the next draw (10-30 ms with Mesa's llvmpipe, in the first
        draw of every study opened)."""
        self.title.text = ""
        self.title.box_color = (0.0, 0.0, 0.0, 0.0)

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """The session's quiet context (programmatic layer edits)."""
        with self._quiet():
            yield


_TRANSFORM_EVENTS = ("affine", "scale", "translate")


def _set_transforms(layers: tuple[Any, ...], tf: dict[str, Any]) -> None:
    """Give every layer of a pane the series' transform, with one notice per layer.

    Each of napari's transform setters tells the viewer at once (its dims ranges,
    sliders and slicing follow), so setting affine, scale and translate layer by
    layer made the viewer recompute its dims up to 15 times for intermediate,
    mixed geometries (and Qt relaid the slider). The setters run with their events
    blocked; each changed layer then emits one ``affine`` event, which the viewer
    and the layer's visual handle like any transform change (they read the
    layer's current transform), so the dims change once, to the final geometry.
    """
    changed = []
    with contextlib.ExitStack() as stack:
        for layer in layers:
            for name in _TRANSFORM_EVENTS:
                stack.enter_context(getattr(layer.events, name).blocker())
            moved = False
            if not np.allclose(layer.affine.affine_matrix, tf["affine"]):
                layer.affine, moved = tf["affine"], True
            if not np.allclose(layer.scale, tf["scale"]):
                layer.scale, moved = tf["scale"], True
            if not np.allclose(layer.translate, tf["translate"]):
                layer.translate, moved = tf["translate"], True
            if moved:
                changed.append(layer)
    for layer in changed:
        layer.events.affine()


def _empty(layer: Any) -> None:
    if isinstance(layer, Shapes):
        if len(layer.data):
            layer.selected_data = set(range(len(layer.data)))
            layer.remove_selected()
    elif len(layer.data):
        set_points_data(layer, np.zeros((0, 3)))
