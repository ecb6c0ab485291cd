"""Where lesion labels go on the canvas so that they never cover the lesion (pure).

A line's label is placed beyond one of its ends, along the line, far enough that the
text box (estimated from the font size and the text length, in screen pixels) does
not reach the end point: the lesion lies between the line's ends, the label outside.
The long axis takes the end on the right (then the upper one); the short axis the
end farthest from the long axis' label, so a node's two labels do not meet. A
marker's label goes to its upper right, outside the ring. Positions are world
``(y, x)`` in mm for the current zoom (screen pixels per mm); they are recomputed when
the zoom changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Estimated width of one character and height of a line of text, per font pixel
#: (``font_px``: napari's text size × :data:`PX_PER_PT`). Measured on napari's canvas
#: (vispy's text, DejaVu Sans): labels such as "T1 SA 30.2 mm" take 1.04–1.08 px per
#: character per point of size, 0.78–0.81 per font pixel; 0.62 (a typical average
#: advance) left a node's two labels overlapping (``test_label_boxes_hold_the_text``).
CHAR_W, LINE_H = 0.82, 1.35
#: Gap between an end point (or a ring) and the nearest edge of its label (pixels).
CLEARANCE_PX = 6.0
#: Screen pixels per point of napari's text ``size`` (vispy sizes text in points, 96 dpi).
PX_PER_PT = 96 / 72


@dataclass(frozen=True)
class LineMark:
    """A drawn axis: lesion id, ``long``/``short``, end points world ``(y, x)`` mm, text."""

    lesion_id: str
    axis: str
    p1: tuple[float, float]
    p2: tuple[float, float]
    text: str


def text_box_px(text: str, font_px: float) -> tuple[float, float]:
    """Estimated (width, height) in screen pixels of a one-line label."""
    return CHAR_W * font_px * max(len(text), 1), LINE_H * font_px


def _beyond(end: np.ndarray, unit: np.ndarray, text: str, font_px: float, zoom: float):
    """Centre of a label placed beyond ``end`` along ``unit`` (screen = world y, x)."""
    w, h = text_box_px(text, font_px)
    reach = abs(unit[1]) * w / 2 + abs(unit[0]) * h / 2  # half-extent of the box along unit
    return end + unit * (CLEARANCE_PX + reach) / zoom


def place_line_labels(
    marks: Sequence[LineMark], zoom: float, font_px: float
) -> list[tuple[float, float]]:
    """Label centres (world y, x) for ``marks``, in order.

    Each label goes beyond one end of its own line; of the two ends, the preferred
    one (see the module) is taken unless its label would cross another line or cover
    a label placed before it and the other end's would not; failing both, the same
    places a text line or more up or down.
    """
    zoom = max(float(zoom), 1e-6)
    out: list[tuple[float, float] | None] = [None] * len(marks)
    long_pos: dict[str, np.ndarray] = {}
    segments = [(m.p1, m.p2) for m in marks]
    boxes: list[tuple[np.ndarray, str]] = []  # labels placed so far
    order = sorted(range(len(marks)), key=lambda i: marks[i].axis != "long")
    for i in order:
        m = marks[i]
        a, b = np.asarray(m.p1, float), np.asarray(m.p2, float)
        d = b - a
        n = float(np.linalg.norm(d))
        unit = d / n if n > 0 else np.array([-1.0, 0.0])
        candidates = [(b, unit), (a, -unit)]
        if m.axis == "long" or m.lesion_id not in long_pos:
            # the right end (larger x), then the upper (smaller y)
            candidates.sort(key=lambda c: (-round(c[0][1], 6), c[0][0]))
        else:
            other = long_pos[m.lesion_id]
            candidates.sort(
                key=lambda c: -np.linalg.norm(_beyond(c[0], c[1], m.text, font_px, zoom) - other)
            )
        placed = [_beyond(end, u, m.text, font_px, zoom) for end, u in candidates]
        others = [seg for j, seg in enumerate(segments) if j != i]
        _, h = text_box_px(m.text, font_px)
        # then the same places a text line or more up or down: the labels of the
        # parts of a split lesion, drawn side by side, fell on one another
        shifted = [p + np.array([k * h / zoom, 0.0]) for k in (1, -1, 2, -2, 3, -3) for p in placed]
        pos = next(
            (
                p
                for p in [*placed, *shifted]
                if _clear(p, m.text, others, zoom, font_px)
                and not any(_overlap(p, m.text, q, t, zoom, font_px) for q, t in boxes)
            ),
            placed[0],
        )
        boxes.append((pos, m.text))
        if m.axis == "long":
            long_pos[m.lesion_id] = pos
        out[i] = (float(pos[0]), float(pos[1]))
    return [p for p in out if p is not None]


def _overlap(a, text_a: str, b, text_b: str, zoom: float, font_px: float) -> bool:
    """Whether two labels' text boxes (screen) overlap."""
    wa, ha = text_box_px(text_a, font_px)
    wb, hb = text_box_px(text_b, font_px)
    dy, dx = abs(float(a[0]) - float(b[0])) * zoom, abs(float(a[1]) - float(b[1])) * zoom
    return dx < (wa + wb) / 2 and dy < (ha + hb) / 2


def _clear(pos, text, segments, zoom, font_px) -> bool:
    return all(label_clear_of_segment(tuple(pos), text, a, b, zoom, font_px) for a, b in segments)


def place_marker_label(
    center: tuple[float, float],
    ring_mm: float,
    text: str,
    zoom: float,
    font_px: float,
    avoid: Sequence[tuple[tuple[float, float], tuple[float, float]]] = (),
) -> tuple[float, float]:
    """Label centre (world y, x) beside a ring marker, outside the ring: upper right,
    else the first diagonal whose label crosses none of the ``avoid`` segments."""
    zoom = max(float(zoom), 1e-6)
    w, h = text_box_px(text, font_px)
    r = ring_mm / 2 + CLEARANCE_PX / zoom
    options = []
    for sy, sx in ((-1, 1), (-1, -1), (1, 1), (1, -1)):
        options.append(
            (
                float(center[0] + sy * (r * 0.7071 + (h / 2) / zoom)),
                float(center[1] + sx * (r * 0.7071 + (w / 2) / zoom)),
            )
        )
    return next((p for p in options if _clear(p, text, avoid, zoom, font_px)), options[0])


def label_clear_of_segment(
    label: tuple[float, float],
    text: str,
    p1: tuple[float, float],
    p2: tuple[float, float],
    zoom: float,
    font_px: float,
) -> bool:
    """Whether the label's text box (screen) stays off the segment ``p1``–``p2``
    (Liang–Barsky clipping of the segment against the box)."""
    w, h = text_box_px(text, font_px)
    cy, cx = float(label[0]) * zoom, float(label[1]) * zoom
    y0, x0 = float(p1[0]) * zoom, float(p1[1]) * zoom
    dy, dx = float(p2[0]) * zoom - y0, float(p2[1]) * zoom - x0
    lo, hi = 0.0, 1.0
    for p, q in (
        (-dx, x0 - (cx - w / 2)),
        (dx, (cx + w / 2) - x0),
        (-dy, y0 - (cy - h / 2)),
        (dy, (cy + h / 2) - y0),
    ):
        if p == 0:
            if q < 0:
                return True  # parallel to this edge and outside
            continue
        t = q / p
        if p < 0:
            lo = max(lo, t)
        else:
            hi = min(hi, t)
        if lo > hi:
            return True
    return False


def stacked_labels(
    box: tuple[float, float, float, float], texts: Sequence[str], zoom: float, font_px: float
) -> list[tuple[float, float]]:
    """Label centres (world y, x) for several labels of one lesion (one per reader):
    stacked above the lesion's box ``(y_min, x_min, y_max, x_max)``, the first on
    top, left-aligned with the box, one text line apart, so that they neither cover
    one another nor the lesion at this zoom."""
    zoom = max(float(zoom), 1e-6)
    y_min, x_min = float(box[0]), float(box[1])
    out = []
    n = len(texts)
    for k, text in enumerate(texts):
        w, h = text_box_px(text, font_px)
        y = y_min - (CLEARANCE_PX + (n - k - 0.5) * h) / zoom
        out.append((y, x_min + w / 2 / zoom))
    return out
