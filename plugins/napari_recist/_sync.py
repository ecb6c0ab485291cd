"""Model ↔ layers of one pane: draw the reading's marks, commit the reader's drawing.

:class:`AnnotationSync` draws the long/short axis lines and ring markers the reading
holds for the pane's time point, with labels placed off the lesion
(:mod:`napari_recist._labels`), and turns the reader's drawing in that pane back
into operations on the reading, always for **the pane's own time point** — the one
place an edit's destination is decided in the plugin; whether it may land there is
the reading's lock policy. A refused or failed edit puts the layers back as the
model has them and reports why. Edits are committed on the layers' ``added`` /
``changed`` / ``removed`` data events (one undoable operation each); ``set_data``
only moves the live length next to the cursor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from napari_recist._defaults import KIND_COLORS, LINE_COLORS
from napari_recist._labels import (
    PX_PER_PT,
    LineMark,
    place_line_labels,
    place_marker_label,
    text_box_px,
)
from napari_recist._layers import set_points_data
from napari_recist._panes import FEATURES_LINES, FEATURES_POINTS, Pane, PaneLayers
from recist_tool.errors import RecistError
from recist_tool.reading import LENGTH_DECIMALS, Line, Marker, Reading

_ACTIONS = {"added": "draw", "changed": "move", "removed": "delete"}
#: A line drawn shorter than this on screen (pixels) is a click, not a measurement:
#: napari draws a ~3.5 px stub on a click in line mode, and a hand's jitter while
#: clicking moves the cursor a pixel or two. It is removed, with :data:`CLICK_HINT`.
CLICK_PX = 5.0
CLICK_HINT = (
    "A click draws no line: press at one end of the axis and drag to the other "
    "(Alt+click inside a lesion proposes its axes)"
)


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return ""
    return str(v)


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns)).astype(object)


def _same_lines(layer: Any, shapes: list[np.ndarray], feats: list[dict[str, Any]]) -> bool:
    """Whether a Shapes layer already holds exactly these lines (order included)."""
    data = layer.data
    if len(data) != len(shapes):
        return False
    f = layer.features
    if len(shapes) and (
        [_text(v) for v in f["lesion_id"]] != [x["lesion_id"] for x in feats]
        or [_text(v) for v in f["axis"]] != [x["axis"] for x in feats]
    ):
        return False
    types = layer.shape_type
    return all(
        t == "line" and np.shape(d) == np.shape(s) and np.allclose(d, s, atol=1e-6)
        for t, d, s in zip(types, data, shapes, strict=True)
    )


def axis_tag(axis: str, part: str = "") -> str:
    """The ``axis`` feature of a line: ``long``/``short``, or ``long:b`` for part ``b``
    of a lesion that split (its first part is tagged as the lesion's own lines)."""
    return f"{axis}:{part}" if part else axis


def parse_tag(tag: str) -> tuple[str, str] | None:
    """``(axis, part)`` of a line's ``axis`` feature; None when it is not a line tag."""
    axis, _, part = tag.partition(":")
    return (axis, part) if axis in ("long", "short") else None


def line_at(f: Any, tag: str) -> Line | None:
    """The line of a finding a tag names (None: not there)."""
    parsed = parse_tag(tag)
    if f is None or parsed is None:
        return None
    axis, part = parsed
    owner = f.part(part) if part else f
    return None if owner is None else owner.line(axis)


def _tags_of(f: Any) -> list[str]:
    """The tags of the lines a finding has (its own, then each other part's)."""
    if f is None:
        return []
    return [
        axis_tag(a, label)
        for owner, label in ((f, ""), *((fr, fr.label) for fr in f.fragments))
        for a in ("long", "short")
        if owner.line(a) is not None
    ]


def line_label(lesion_id: str, axis: str, line: Line) -> str:
    """``T1 41.9 mm`` / ``T2 SA 12.0 mm`` (the length as the annotation table has it)."""
    tag = "" if axis == "long" else " SA"
    mm = round(line.length_mm, LENGTH_DECIMALS)
    return f"{lesion_id}{tag} {mm:.{LENGTH_DECIMALS}f} mm"


def line_color(kind: str, axis: str) -> str:
    """Colour of an axis line by lesion kind (short axes orange)."""
    return LINE_COLORS["short"] if axis == "short" else KIND_COLORS.get(kind, "yellow")


class AnnotationSync:
    """Draws the reading into a pane and commits the reader's drawing there.

    Parameters
    ----------
    pane : Pane
    reading : callable
        Returns the session's current :class:`Reading`.
    claim : callable
        Returns the lesion an untagged mark belongs to (the active one, else a new
        one); called inside the operation, so a lesion it creates is undone with it.
    active_axis : callable
        ``"long"``/``"short"``: the axis an untagged line is.
    flags : callable
        ``flags(lesion_id, timepoint) -> str`` appended to a label (e.g. ``" ⚠"``).
    changed : callable
        ``changed(t0)`` after a committed edit (evaluate, save, refresh).
    refused : callable
        ``refused(message)`` when the reading refused or rejected an edit.
    """

    def __init__(
        self,
        pane: Pane,
        reading: Callable[[], Reading],
        claim: Callable[[str | None], str],
        active_axis: Callable[[], str],
        flags: Callable[[str, str], str],
        changed: Callable[[float], None],
        refused: Callable[[str], None],
    ) -> None:
        self.pane = pane
        self._reading = reading
        self._claim = claim
        self._axis = active_axis
        self._flags = flags
        self._changed = changed
        self._refused = refused
        #: ``guard(edit, action)`` runs each edit (the session's sign-off guard).
        self.guard: Callable[[Callable[[], None], str], None] = lambda edit, action: edit()
        self._busy = 0
        self._edge_colors: list[str] = []
        self._marks: list[LineMark] = []
        self._markers: list[tuple[tuple[float, float], str]] = []
        self.live_text = ""
        self._committed: np.ndarray | None = None
        #: The lines as the layer held them when it last matched the reading (after
        #: a render or a commit): napari emits ``set_data`` on every re-slice too, and
        #: a line equal to its settled self is not being drawn or dragged.
        self._settled: list[np.ndarray] = []
        #: ``on_live(text)`` with the live length (e.g. a widget label); optional.
        self.on_live: Callable[[str], None] | None = None
        self._pending_tags: tuple[list[str], list[str]] | None = None
        #: ``on_hint(text)`` when a mark was not taken and why (a click in line mode).
        self.on_hint: Callable[[str], None] | None = None
        #: ``after_lines(reading, layers, lesion_ids)`` inside a drawing's operation,
        #: with the lesions whose lines changed (e.g. their mean HU); optional.
        self.after_lines: Callable[[Reading, PaneLayers, list[str]], None] | None = None

    # ------------------------------------------------------------------ connecting

    def connect(self) -> None:
        """Listen to the pane's current layers (after :meth:`Pane.show`)."""
        pl = self.pane.layers
        if pl is None:
            return
        pl.lines.events.data.connect(self._on_lines_data)
        pl.lines.events.set_data.connect(self._on_live)
        pl.points.events.data.connect(self._on_points_data)

    def disconnect(self) -> None:
        """Stop listening (before the pane's layers go)."""
        pl = self.pane.layers
        if pl is None:
            return
        for emitter, cb in (
            (pl.lines.events.data, self._on_lines_data),
            (pl.lines.events.set_data, self._on_live),
            (pl.points.events.data, self._on_points_data),
        ):
            emitter.disconnect(cb)

    # ------------------------------------------------------------------ model -> layers

    def render(self) -> None:
        """Draw the reading's lines and markers of the pane's time point."""
        pl = self.pane.layers
        if pl is None:
            return
        reading, label, geo = self._reading(), pl.timepoint, pl.geometry
        shapes, feats_l, colors = [], [], []
        pts, feats_p, pcolors = [], [], []
        for lesion in reading.lesions:
            f = lesion.findings.get(label)
            if f is None:
                continue
            for tag in _tags_of(f):
                line = line_at(f, tag)
                assert line is not None
                shapes.append(line.indices(geo))
                feats_l.append({"lesion_id": lesion.lesion_id, "axis": tag})
                colors.append(line_color(lesion.kind, tag.partition(":")[0]))
            if f.marker is not None:
                pts.append(geo.lps_to_index(f.marker.position_lps))
                feats_p.append({"lesion_id": lesion.lesion_id})
                pcolors.append(KIND_COLORS[lesion.kind])
        self._busy += 1
        try:
            lines = pl.lines
            if not _same_lines(lines, shapes, feats_l):  # redrawing shapes is slow
                if len(lines.data):
                    lines.selected_data = set(range(len(lines.data)))
                    lines.remove_selected()
                if shapes:
                    lines.add(shapes, shape_type="line", edge_color=colors)
                self._edge_colors = colors
                lines.features = _frame(feats_l, FEATURES_LINES)
            points = pl.points
            new_pts = np.asarray(pts, dtype=float).reshape(-1, 3)
            new_ids = [f["lesion_id"] for f in feats_p]
            old_ids = [_text(v) for v in points.features["lesion_id"]] if len(points.data) else []
            same_p = (
                new_ids == old_ids
                and np.asarray(points.data).shape == new_pts.shape
                and np.allclose(points.data, new_pts)
            )
            if not same_p:
                points.data = new_pts
                points.features = _frame(feats_p, FEATURES_POINTS)
                if pts:
                    points.face_color = pcolors
            if pts:
                self.pane.show_layer(points)
            self._settle(lines)
        finally:
            self._busy -= 1
        self.relabel()

    def _settle(self, layer: Any) -> None:
        self._settled = [np.array(d, float) for d in layer.data]

    def relabel(self) -> None:
        """Refresh the labels (id, length, a mark when a check fails), placed off the
        lesion for the current zoom, and the line colours."""
        pl = self.pane.layers
        if pl is None:
            return
        reading, label = self._reading(), pl.timepoint
        lines = pl.lines
        feats = lines.features
        data = lines.data
        marks, colors = [], []
        kinds = {le.lesion_id: le for le in reading.lesions}
        for i in range(len(data)):
            lid, tag = _text(feats["lesion_id"].iloc[i]), _text(feats["axis"].iloc[i])
            axis, part = parse_tag(tag) or (tag, "")
            lesion = kinds.get(lid)
            f = None if lesion is None else lesion.findings.get(label)
            line = line_at(f, tag)
            shown = lid + (part or (f.fragment if f is not None and f.fragments else ""))
            text = shown if line is None else line_label(shown, axis, line)
            if lesion is not None and tag == "long":
                text += self._flags(lid, label)
            verts = np.asarray(data[i])
            if len(verts) != 2:
                continue
            y1x1, y2x2 = pl.lines.data_to_world(verts[0]), pl.lines.data_to_world(verts[1])
            key = f"{lid}:{part}" if part else lid  # each part's labels placed as a lesion's
            marks.append(LineMark(key, axis, tuple(y1x1[1:]), tuple(y2x2[1:]), text))
            colors.append("white" if lesion is None else line_color(lesion.kind, axis))
        markers = []
        pfeats = pl.points.features
        for i, pos in enumerate(np.asarray(pl.points.data)):
            lid = _text(pfeats["lesion_id"].iloc[i]) if "lesion_id" in pfeats else ""
            world = pl.points.data_to_world(pos)
            markers.append(((world[0], world[1], world[2]), lid + self._flags(lid, label)))
        self._marks = marks
        self._markers = markers
        self._busy += 1
        try:
            if len(data) and self._edge_colors != colors:
                lines.edge_color = colors
                self._edge_colors = colors
        finally:
            self._busy -= 1
        self.place_labels()

    def place_labels(self) -> None:
        """Put the labels where they do not cover their lesion at the current zoom."""
        pl = self.pane.layers
        if pl is None:
            return
        zoom = float(self.pane.viewer.scene.camera.zoom)
        s = self.pane.settings
        font_px = s.label_px * PX_PER_PT  # napari's text size is in points
        pos_l = place_line_labels(self._marks, zoom, font_px)
        z_of = {}
        data = pl.lines.data
        feats = pl.lines.features
        for i in range(len(data)):
            lid, tag = _text(feats["lesion_id"].iloc[i]), _text(feats["axis"].iloc[i])
            axis, part = parse_tag(tag) or (tag, "")
            z_of[(f"{lid}:{part}" if part else lid, axis)] = float(
                pl.lines.data_to_world(np.asarray(data[i])[0])[0]
            )
        world, texts = [], []
        for m, (y, x) in zip(self._marks, pos_l, strict=True):
            world.append((z_of.get((m.lesion_id, m.axis), 0.0), y, x))
            texts.append(m.text)
        segments = [(m.p1, m.p2) for m in self._marks]
        for (z, y, x), text in self._markers:
            py, px = place_marker_label((y, x), s.marker_mm, text, zoom, font_px, segments)
            world.append((z, py, px))
            texts.append(text)
        labels = pl.labels
        idx = (
            np.asarray([labels.world_to_data(w) for w in world], float).reshape(-1, 3)
            if world
            else np.zeros((0, 3))
        )
        old = np.asarray(labels.data)
        old_texts = [_text(v) for v in labels.features["label"]] if len(old) else []
        if old.shape == idx.shape and old_texts == texts and np.allclose(old, idx, atol=1e-3):
            return  # setting Points data makes napari recompute every layer's extent
        set_points_data(labels, idx)
        labels.features = pd.DataFrame({"label": pd.Series(texts, dtype=object)})
        labels.refresh_text()
        if len(idx):
            self.pane.show_layer(labels)

    # ------------------------------------------------------------------ live length

    def _on_live(self, event: Any) -> None:
        pl = self.pane.layers
        layer = event.source
        if pl is None or self._busy or not len(layer.data):
            return
        sel = sorted(layer.selected_data)
        i = sel[-1] if sel else len(layer.data) - 1
        verts = layer.data[i]
        if len(verts) != 2:
            return
        settled = self._settled
        if i < len(settled) and settled[i].shape == verts.shape and np.allclose(settled[i], verts):
            return  # a re-slice (slice step), not a drawing or a drag
        done = self._committed
        if done is not None and done.shape == verts.shape and np.allclose(done, verts):
            return  # napari's set_data after the commit: the label shows the length now
        line = Line.from_indices(pl.geometry, verts[0], verts[1])
        text = f"{line.length_mm:.{LENGTH_DECIMALS}f} mm"
        self.show_live(text, verts[1])
        if self.on_live is not None:
            self.on_live(text)

    def show_live(self, text: str, data_pos: Any) -> None:
        """Show ``text`` next to ``data_pos`` (the moving end / cursor)."""
        pl = self.pane.layers
        if pl is None:
            return
        self.live_text = text
        zoom = max(float(self.pane.viewer.scene.camera.zoom), 1e-6)
        world = np.asarray(pl.lines.data_to_world(np.asarray(data_pos, float)), float)
        s = self.pane.settings
        w, h = text_box_px(text, s.label_px * PX_PER_PT)
        world = world + np.array([0.0, -(h / 2 + 8) / zoom, (w / 2 + 14) / zoom])
        live = pl.live
        pos = np.asarray(live.world_to_data(world), float)
        if len(live.data) == 1:  # in place: the data setter recomputes every extent
            live.data[0] = pos
            live.features.loc[0, "label"] = text
            live.refresh_text()
            live.refresh()
        else:
            live.data = pos.reshape(1, 3)
            live.features = pd.DataFrame({"label": pd.Series([text], dtype=object)})
            live.refresh_text()
        if not live.visible:
            live.visible = True

    def hide_live(self) -> None:
        """Hide the live length (the line is committed)."""
        pl = self.pane.layers
        if pl is not None and pl.live.visible:
            pl.live.visible = False

    # ------------------------------------------------------------------ layers -> model

    def _action(self, event: Any) -> str | None:
        if self._busy or self.pane.layers is None:
            return None
        return _ACTIONS.get(getattr(event, "action", None))

    def _on_lines_data(self, event: Any) -> None:
        if (what := self._action(event)) is not None:
            self.hide_live()
            layer = event.source
            sel = sorted(layer.selected_data)
            data = layer.data
            last = data[sel[-1]] if sel and sel[-1] < len(data) else (data[-1] if data else None)
            if what == "draw" and last is not None and self._on_screen_px(layer, last) < CLICK_PX:
                self.render()  # the click's stub goes; the reading is untouched
                self.live_text = ""
                if self.on_live is not None:
                    self.on_live("–")
                if self.on_hint is not None:
                    self.on_hint(CLICK_HINT)
                return
            self._committed = None if last is None else np.array(last, float)
            self._settle(layer)
            self._commit(self._commit_lines, f"{what}_line")

    def _on_screen_px(self, layer: Any, verts: Any) -> float:
        """Length on screen (pixels) of a shape's first two vertices."""
        v = np.asarray(verts, float)
        if len(v) < 2:
            return float("inf")
        viewer = self.pane.viewer
        a, b = (np.asarray(layer.data_to_world(p), float) for p in v[:2])
        shown = list(viewer.dims.displayed)
        return float(np.linalg.norm((b - a)[shown]) * viewer.camera.zoom)

    def _on_points_data(self, event: Any) -> None:
        if (what := self._action(event)) is not None:
            self._commit(self._commit_points, f"{what}_marker")

    def _commit(self, fn: Callable[[Reading, PaneLayers], None], action: str) -> None:
        t0 = time.perf_counter()
        pl = self.pane.layers
        reading = self._reading()

        def edit() -> None:
            with reading.transaction(action):
                fn(reading, pl)

        try:
            self.guard(edit, action)
        except RecistError as exc:  # refused (read-only time point) or invalid
            self.render()  # the layers show what the reading holds
            self._refused(str(exc))
            return
        self._normalise(pl)
        self._settle(pl.lines)
        self.relabel()
        self._changed(t0)

    def _commit_lines(self, reading: Reading, pl: PaneLayers) -> None:
        label, layer, geo = pl.timepoint, pl.lines, pl.geometry
        feats = layer.features
        data, types = layer.data, layer.shape_type  # each access rebuilds a list
        n = len(data)
        lids = [_text(v) for v in feats["lesion_id"]] if "lesion_id" in feats else [""] * n
        axes = [_text(v) for v in feats["axis"]] if "axis" in feats else [""] * n
        ids = {lesion.lesion_id for lesion in reading.lesions}
        keep: dict[tuple[str, str], int] = {}
        for i in range(n):
            if types[i] != "line" or len(data[i]) != 2:
                continue
            if lids[i] not in ids or parse_tag(axes[i]) is None:
                lids[i] = self._claim(self.pane.timepoint)
                armed = self._axis()
                axes[i] = armed if parse_tag(armed) is not None else "long"
                ids.add(lids[i])
            keep[(lids[i], axes[i])] = i  # the newer line replaces the older one
        self._pending_tags = (lids, axes)
        changed: list[str] = []
        for lesion in reading.lesions:
            lid = lesion.lesion_id
            mine = [t for (k, t) in keep if k == lid]
            tags = list(dict.fromkeys(["long", "short", *_tags_of(lesion.findings.get(label))]))
            # each part once it is drawn (a part removed goes with its last line)
            for tag in [*tags, *(t for t in mine if t not in tags)]:
                axis, part = parse_tag(tag)  # type: ignore[misc]
                i = keep.get((lid, tag))
                old = line_at(lesion.findings.get(label), tag)
                if i is None:
                    if old is not None:
                        reading.set_line(lid, label, axis, None, part=part or None)
                        changed.append(lid)
                    continue
                verts = data[i]
                if old is not None and np.allclose(old.indices(geo), verts, atol=1e-5):
                    continue
                line = Line.from_indices(geo, verts[0], verts[1])
                reading.set_line(lid, label, axis, line, part=part or None)
                changed.append(lid)
        if changed and self.after_lines is not None:
            self.after_lines(reading, pl, list(dict.fromkeys(changed)))

    def _commit_points(self, reading: Reading, pl: PaneLayers) -> None:
        label, layer, geo = pl.timepoint, pl.points, pl.geometry
        feats = layer.features
        ids = {lesion.lesion_id for lesion in reading.lesions}
        keep: dict[str, int] = {}
        for i in range(len(layer.data)):
            lid = _text(feats["lesion_id"].iloc[i]) if "lesion_id" in feats else ""
            if lid not in ids:
                lid = self._claim(self.pane.timepoint)
                ids.add(lid)
            keep[lid] = i
        for lesion in reading.lesions:
            f = lesion.findings.get(label)
            i = keep.get(lesion.lesion_id)
            old = None if f is None else f.marker
            if i is None:
                if old is not None:
                    reading.set_marker(lesion.lesion_id, label, None)
                continue
            pos = layer.data[i]
            if old is not None and np.allclose(geo.lps_to_index(old.position_lps), pos):
                continue
            reading.set_marker(lesion.lesion_id, label, Marker.from_index(geo, pos))

    def _normalise(self, pl: PaneLayers) -> None:
        """Make the layers hold exactly the reading's marks (tags set on new marks,
        replaced and non-line shapes dropped) without redrawing what is right."""
        reading = self._reading()
        label = pl.timepoint
        want_l = {
            (le.lesion_id, tag)
            for le in reading.lesions
            for tag in _tags_of(le.findings.get(label))
        }
        tags, self._pending_tags = self._pending_tags, None
        layer = pl.lines
        n = len(layer.data)
        if tags is not None and len(tags[0]) == n:
            lids, axes = tags
        else:
            feats = layer.features
            lids = [_text(v) for v in feats["lesion_id"]] if n else []
            axes = [_text(v) for v in feats["axis"]] if n else []
        types = layer.shape_type
        seen: dict[tuple[str, str], int] = {}
        drop = []
        for i in range(n):
            key = (lids[i], axes[i])
            if types[i] != "line" or key not in want_l:
                drop.append(i)
                continue
            if key in seen:
                drop.append(seen[key])
            seen[key] = i
        if drop and any(types[i] != "line" for i in drop):
            self._refused("only lines measure lesions; other shapes were removed")
        self._busy += 1
        try:
            feats = _frame(
                [{"lesion_id": a, "axis": b} for a, b in zip(lids, axes, strict=True)],
                FEATURES_LINES,
            )
            if drop:
                layer.selected_data = set(drop)
                layer.remove_selected()
                feats = feats.drop(index=feats.index[drop]).reset_index(drop=True)
            current = layer.features
            same = len(current) == len(feats) and all(
                current[c].astype(str).tolist() == feats[c].astype(str).tolist()
                for c in FEATURES_LINES
            )
            if not same:
                layer.features = feats
            # markers: one per lesion, tagged
            want_p = {
                le.lesion_id
                for le in reading.lesions
                if (f := le.findings.get(label)) is not None and f.marker is not None
            }
            points = pl.points
            pf = points.features
            pids = [_text(v) for v in pf["lesion_id"]] if len(points.data) else []
            if sorted(pids) != sorted(want_p) or len(pids) != len(want_p):
                self.render()
        finally:
            self._busy -= 1
