"""Lines and markers between the layers and the model (mixed into ``ReadingSession``).

Both directions: ``_render`` and ``_relabel`` draw the model's long/short axis lines
and markers of a time point (with their id and length as text) into its Shapes and
Points layers; ``_commit_lines`` and ``_commit_points`` take the reader's drawing back
into the model on the layers' ``added``/``changed``/``removed`` data events (a mark not
tagged with a lesion goes to the active lesion, else a new one; a newer line of the
same lesion and axis replaces the older; shapes other than lines are removed), while
``set_data`` only feeds the live length read-out.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from napari.utils.notifications import show_warning

from napari_recist._defaults import KIND_COLORS, LINE_COLORS
from recist_tool.errors import RecistError
from recist_tool.reading import LENGTH_DECIMALS, Line, Marker

_FEATURES_LINES = ("lesion_id", "axis", "label")
_FEATURES_POINTS = ("lesion_id", "label")


class DrawingMixin:
    """The drawing part of :class:`napari_recist._session.ReadingSession`."""

    def _render(self, label: str) -> None:
        """Draw the model's lines and markers of a time point into its layers."""
        tpl = self._tp.get(label)
        if tpl is None:
            return
        geo = tpl.geometry
        shapes, feats_l, colors = [], [], []
        pts, feats_p, pcolors = [], [], []
        for lesion in self.reading.lesions:
            f = lesion.findings.get(label)
            if f is None:
                continue
            for axis in ("long", "short"):
                line = f.long_axis if axis == "long" else f.short_axis
                if line is not None:
                    shapes.append(line.indices(geo))
                    feats_l.append(
                        {
                            "lesion_id": lesion.lesion_id,
                            "axis": axis,
                            "label": _line_label(lesion.lesion_id, axis, line),
                        }
                    )
                    colors.append(_color(lesion.kind, axis))
            if f.marker is not None:
                pts.append(geo.lps_to_index(f.marker.position_lps))
                feats_p.append({"lesion_id": lesion.lesion_id, "label": lesion.lesion_id})
                pcolors.append(KIND_COLORS[lesion.kind])
        with self._quiet():
            lines = tpl.lines
            if len(lines.data):
                lines.selected_data = set(range(len(lines.data)))
                lines.remove_selected()
            if shapes:
                lines.add(shapes, shape_type="line", edge_color=colors)
            self._edge_colors[label] = colors
            lines.features = _frame(feats_l, _FEATURES_LINES)
            lines.refresh_text()
            points = tpl.points
            points.data = np.asarray(pts, dtype=float).reshape(-1, 3)
            points.features = _frame(feats_p, _FEATURES_POINTS)
            if pts:
                points.face_color = pcolors
            points.refresh_text()

    def _on_lines_live(self, event: Any) -> None:
        layer = event.source
        label = self._label_of(layer)
        if label is None or not len(layer.data):
            return
        sel = sorted(layer.selected_data)
        i = sel[-1] if sel else len(layer.data) - 1
        verts = layer.data[i]
        if len(verts) != 2:
            return
        line = Line.from_indices(self._tp[label].geometry, verts[0], verts[1])
        self.live.emit(f"{line.length_mm:.1f} mm")

    def _committed_label(self, event: Any) -> str | None:
        """The time point of a finished edit (drawn, moved or deleted), else None.

        Drags emit ``set_data`` continuously; only the final actions are committed.
        """
        if self._busy or getattr(event, "action", None) not in ("added", "changed", "removed"):
            return None
        return self._label_of(event.source)

    def _on_lines_data(self, event: Any) -> None:
        if (label := self._committed_label(event)) is not None:
            self._commit_lines(label)

    def _on_points_data(self, event: Any) -> None:
        if (label := self._committed_label(event)) is not None:
            self._commit_points(label)

    def _claim(self) -> str:
        """Lesion that an untagged mark belongs to: the active one, else a new one."""
        ids = {lesion.lesion_id for lesion in self.reading.lesions}
        if self.active_lesion in ids:
            return self.active_lesion  # type: ignore[return-value]
        lesion = self.reading.add_lesion(**self.form)
        self.active_lesion = lesion.lesion_id
        return lesion.lesion_id

    def _commit_lines(self, label: str) -> None:
        t0 = time.perf_counter()
        tpl = self._tp[label]
        layer, geo = tpl.lines, tpl.geometry
        feats = layer.features
        data, types = layer.data, layer.shape_type  # each access rebuilds a list
        n = len(data)
        lids = [_text(v) for v in feats["lesion_id"]] if "lesion_id" in feats else [""] * n
        axes = [_text(v) for v in feats["axis"]] if "axis" in feats else [""] * n
        ids = {lesion.lesion_id for lesion in self.reading.lesions}
        keep: dict[tuple[str, str], int] = {}
        drop: list[int] = []
        retag = False
        for i in range(n):
            if types[i] != "line" or len(data[i]) != 2:
                drop.append(i)
                continue
            if lids[i] not in ids or axes[i] not in ("long", "short"):
                lids[i] = self._claim()
                axes[i] = "short" if self.active_axis == "short" else "long"
                ids.add(lids[i])
                retag = True
            key = (lids[i], axes[i])
            if key in keep:
                drop.append(keep[key])  # the newer line replaces the older one
            keep[key] = i
        if retag:
            feats = feats.copy()
            feats["lesion_id"], feats["axis"] = lids, axes
        if any(types[i] != "line" for i in drop):
            show_warning("recist: only lines measure lesions; other shapes were removed")
        for lesion in self.reading.lesions:
            f = lesion.findings.get(label)
            for axis in ("long", "short"):
                i = keep.get((lesion.lesion_id, axis))
                old = None if f is None else (f.long_axis if axis == "long" else f.short_axis)
                if i is None:
                    if old is not None:
                        self.reading.set_line(lesion.lesion_id, label, axis, None)
                    continue
                verts = data[i]
                if old is not None and np.allclose(old.indices(geo), verts, atol=1e-5):
                    continue
                line = Line.from_indices(geo, verts[0], verts[1])
                self.reading.set_line(lesion.lesion_id, label, axis, line)
        with self._quiet():
            if drop:
                layer.selected_data = set(drop)
                layer.remove_selected()
                feats = feats.drop(index=feats.index[drop]).reset_index(drop=True)
        self._relabel(label, feats)
        self._after_change(t0)

    def _relabel(self, label: str, feats: pd.DataFrame | None = None) -> None:
        """Refresh the text (id and length) shown next to each line."""
        tpl = self._tp[label]
        layer = tpl.lines
        feats = (layer.features if feats is None else feats).copy()
        texts, colors = [], []
        for i in range(len(layer.data)):
            lid, axis = _text(feats["lesion_id"].iloc[i]), _text(feats["axis"].iloc[i])
            try:
                lesion = self.reading.lesion(lid)
            except RecistError:
                texts.append(lid)
                colors.append("white")
                continue
            f = lesion.findings.get(label)
            line = None if f is None else (f.long_axis if axis == "long" else f.short_axis)
            texts.append(lid if line is None else _line_label(lid, axis, line))
            colors.append(_color(lesion.kind, axis))
        with self._quiet():
            current = layer.features
            same = len(current) == len(feats) and all(
                current[c].astype(str).tolist() == feats[c].astype(str).tolist()
                for c in ("lesion_id", "axis")
            )
            if same:  # in place: resetting the table makes napari redo every shape
                if current["label"].tolist() != texts:
                    current["label"] = texts
                    layer.refresh_text()
            else:
                feats["label"] = texts
                layer.features = feats
                layer.refresh_text()
            if len(layer.data) and self._edge_colors.get(label) != colors:
                layer.edge_color = colors
                self._edge_colors[label] = colors

    def _commit_points(self, label: str) -> None:
        t0 = time.perf_counter()
        tpl = self._tp[label]
        layer, geo = tpl.points, tpl.geometry
        feats = layer.features.copy()
        ids = {lesion.lesion_id for lesion in self.reading.lesions}
        keep: dict[str, int] = {}
        drop: list[int] = []
        for i in range(len(layer.data)):
            lid = _text(feats["lesion_id"].iloc[i]) if "lesion_id" in feats else ""
            if lid not in ids:
                lid = self._claim()
                ids.add(lid)
            if lid in keep:
                drop.append(keep[lid])
            keep[lid] = i
            feats.loc[feats.index[i], ["lesion_id", "label"]] = [lid, lid]
        for lesion in self.reading.lesions:
            f = lesion.findings.get(label)
            i = keep.get(lesion.lesion_id)
            old = None if f is None else f.marker
            if i is None:
                if old is not None:
                    self.reading.set_marker(lesion.lesion_id, label, None)
                continue
            pos = layer.data[i]
            if old is not None and np.allclose(geo.lps_to_index(old.position_lps), pos):
                continue
            self.reading.set_marker(lesion.lesion_id, label, Marker.from_index(geo, pos))
        with self._quiet():
            if drop:
                layer.selected_data = set(drop)
                layer.remove_selected()
                feats = feats.drop(index=feats.index[drop]).reset_index(drop=True)
            layer.features = feats
            layer.refresh_text()
        self._after_change(t0)


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return ""
    return str(v)


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns)).astype(object)


def _line_label(lesion_id: str, axis: str, line: Line) -> str:
    tag = "" if axis == "long" else " SA"
    mm = round(line.length_mm, LENGTH_DECIMALS)
    return f"{lesion_id}{tag} {mm:.{LENGTH_DECIMALS}f} mm"


def _color(kind: str, axis: str) -> str:
    return LINE_COLORS["short"] if axis == "short" else KIND_COLORS.get(kind, "yellow")
