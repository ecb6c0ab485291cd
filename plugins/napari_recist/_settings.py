"""How the reading workstation behaves: PACS conventions, linking, labels (plain values).

:class:`ViewSettings` holds the defaults a PACS user expects (wheel and arrow keys
page slices, Ctrl+wheel zooms, right-drag sets window/level, the comparison pane
follows the current one by patient position); ``$RECIST_VIEW`` overrides them, e.g.
``RECIST_VIEW="wheel=zoom,page_step=5,link_pan=1"``. Nothing here touches napari.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

#: Environment variable with ``name=value`` overrides of :class:`ViewSettings`.
VIEW_ENV = "RECIST_VIEW"


@dataclass
class ViewSettings:
    """Mouse, keyboard and display conventions of the reading workstation.

    Attributes
    ----------
    wheel : {"slice", "zoom"}
        What the mouse wheel does without a modifier (Ctrl+wheel does the other).
    right_drag_window : bool
        Right-drag on an image sets window (horizontal: width) and level (vertical).
    window_hu_per_px : float
        Window/level change per pixel of right-drag, in HU.
    page_step : int
        Slices moved by PageUp/PageDown.
    link_slices : bool
        Paging one pane moves the other to the same patient position (z in mm).
    link_zoom, link_pan : bool
        Zoom (same magnification) and pan (same displacement) follow in the other pane.
    label_px : int
        Size of the lesion labels on the canvas (screen pixels).
    marker_mm : float
        Diameter of the ring marking a non-target or new lesion (mm): hollow, so
        what it marks stays visible.
    hide_layer_docks : bool
        Hide napari's layer list and controls while the comparison pane is shown,
        so both panes get the width (napari's Window menu brings them back).
    warm_up : bool
        When the widget is docked, draw the (empty) pane once, fully transparent, so
        the canvas builds its shader programs and text glyphs then, not when the
        reader opens the first study (``RECIST_VIEW=warm_up=0`` to measure a cold
        open).
    """

    wheel: str = "slice"
    right_drag_window: bool = True
    window_hu_per_px: float = 2.0
    page_step: int = 10
    link_slices: bool = True
    link_zoom: bool = True
    link_pan: bool = False
    label_px: int = 12
    marker_mm: float = 14.0
    hide_layer_docks: bool = True
    warm_up: bool = True

    def __post_init__(self) -> None:
        if self.wheel not in ("slice", "zoom"):
            raise ValueError(f"wheel must be 'slice' or 'zoom', not {self.wheel!r}")
        if self.page_step < 1:
            raise ValueError("page_step must be at least 1")

    @classmethod
    def from_env(cls) -> ViewSettings:
        """Defaults with the overrides of ``$RECIST_VIEW`` (``name=value,…``).

        Raises
        ------
        ValueError
            Naming the unknown setting or bad value.
        """
        text = os.environ.get(VIEW_ENV, "").strip()
        if not text:
            return cls()
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        values: dict[str, object] = {}
        for item in text.split(","):
            if not item.strip():
                continue
            name, _, raw = item.partition("=")
            name, raw = name.strip(), raw.strip()
            if name not in types:
                raise ValueError(
                    f"{VIEW_ENV}: unknown setting {name!r} (known: {', '.join(types)})"
                )
            kind = types[name]
            try:
                if kind in (bool, "bool"):
                    values[name] = raw.lower() in ("1", "true", "yes", "on")
                elif kind in (int, "int"):
                    values[name] = int(raw)
                elif kind in (float, "float"):
                    values[name] = float(raw)
                else:
                    values[name] = raw
            except ValueError:
                raise ValueError(f"{VIEW_ENV}: {name}={raw!r} is not a valid {kind}") from None
        return cls(**values)  # type: ignore[arg-type]
