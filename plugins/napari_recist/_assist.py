"""Measurement assistance in the panes: one click proposes the axes; follow-up lesions
are found by registration. No Qt here (napari models and psygnal only).

:class:`Assistant` is a small object the session composes:

* **Alt+click** in a pane whose time point may be edited → the core's
  :func:`recist_tool.measure.propose` on that pane's series (through :attr:`runner`:
  inline on a bare model, a napari thread worker in the Qt widget; a result
  superseded by a newer click is dropped) → the proposed long and short axes as
  editable lines in the pane's *proposal* layer, the outline in a second layer, the
  pane moved to the measured slice, the lengths live while an end is dragged. A
  doubtful proposal (``low_confidence``) is drawn in the warning colour and its
  reason is the :attr:`status`.
* **Enter** accepts: one undoable, audited operation — the lesion the mark belongs to
  (the active one, else a new one, as for a drawn line), then
  :func:`recist_tool.reading.apply_proposal` (``method = "assisted"``, ``volume_ml``,
  ``mean_hu``) and, for a line the reader moved before accepting, the core's
  :meth:`Reading.set_line` (which makes it ``assisted_edited``). **Esc** rejects
  (nothing reaches the reading). Later drags of the accepted lines are ordinary edits.
* **Follow-up**: selecting a baseline lesion while a follow-up is current moves the
  current pane to its registered position (:class:`recist_tool.register.RegistrationCache`,
  one per reading folder, computed through :attr:`runner`; until it is known, the
  session's jump to the same patient position stands) and :meth:`propose_here`
  (Enter, the widget's *Propose* button) proposes there.
* A line drawn by hand gets the ``mean_hu`` of a circular ROI on its long axis
  (:func:`recist_tool.measure.line_roi_mean_hu`) inside the drawing's operation.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from napari.layers import Shapes
from psygnal import Signal

from napari_recist._layers import AXIS_LABELS, UNITS
from napari_recist._panes import Pane, PaneLayers, SeriesSource
from recist_tool.reading import LENGTH_DECIMALS, Line, Reading, apply_proposal
from recist_tool.reading.assist import HU_DECIMALS, VOLUME_DECIMALS, proposes_at_follow_up
from recist_tool.reading.policy import kind_first_seen

if TYPE_CHECKING:
    from napari_recist._session import ReadingSession

#: ``runner(work, done, failed)``: run ``work()`` and hand its result to ``done`` (or
#: its exception to ``failed``) on the GUI thread.
Runner = Callable[[Callable[[], Any], Callable[[Any], None], Callable[[BaseException], None]], None]

#: Colours of a proposal: (long, short, outline) when confident, and when doubtful.
COLORS = {"ok": ("#00e5ff", "#ff7fff", "#7fff00"), "low": ("#ff3b30", "#ff9500", "#ff9500")}
LAYER_NAMES = ("RECIST proposal", "RECIST proposal outline")
#: ``off`` turns the automatic follow-up registration off (slow machines, tests); the
#: follow-up pane then shows the baseline lesion's patient position.
REGISTRATION_ENV = "RECIST_REGISTRATION"
#: What a non-target selected at follow-up asks of the reader (no axes are offered).
_SET_STATUS = (
    "A non-target: set its status with the buttons (Present Alt+I, Absent Alt+0, Progression Alt+U)"
)


def _non_target_text(here: Any, label: str | None) -> str:
    """What a non-target's status line says at ``label``: set its status, or the
    status it has (the buttons change it)."""
    if here is None or here.status is None:
        return _SET_STATUS
    status = str(here.status).replace("_", " ")
    return f"A non-target, {status} at {label}: the buttons (Alt+I, Alt+0, Alt+U) change it"


def _to_follow_up(reg: Any, pos: Any) -> tuple[float, float, float]:
    """A baseline position (LPS) where the registration puts it at follow-up."""
    x, y, z = (float(v) for v in np.asarray(reg.to_moving([pos]), float)[0])
    return (x, y, z)


def _kind_organ(form: dict) -> str:
    """ "target · liver", "target · lymph_node · node": a lesion's kind and organ."""
    parts = [str(form.get("kind") or "target"), str(form.get("organ") or "no organ")]
    if form.get("nodal"):
        parts.append("node")
    return " · ".join(parts)


def _measured_here(lesion_id: str, label: str | None, kind: str) -> str:
    """The status of a lesion selected where it is measured already."""
    if not proposes_at_follow_up(kind):
        return f"{lesion_id}: its status at {label} is set; the buttons change it"
    return (
        f"{lesion_id}: measured at {label}. Drag an end point to edit it; Alt+click on it "
        "measures it again"
    )


def run_now(
    work: Callable[[], Any], done: Callable[[Any], None], failed: Callable[[BaseException], None]
) -> None:
    """The default :data:`Runner`: run ``work`` here and now (no event loop)."""
    try:
        result = work()
    except Exception as exc:  # handed to the caller, as a worker's errored signal would
        failed(exc)
        return
    done(result)


def series_volume(source: SeriesSource) -> Any:
    """The :class:`recist_tool.dicom.Volume` of a loaded series (its array, no copy;
    waits for pixels still being read: :mod:`recist_tool.dicom.stream`)."""
    from recist_tool.dicom import Volume

    geo = source.info.geometry
    assert geo is not None
    meta = dict((source.kwargs.get("metadata") or {}).get("dicom") or {})
    meta["series_instance_uid"] = source.info.series_uid
    return Volume(
        array=np.asarray(source.data),
        spacing_zyx=tuple(geo.spacing_zyx),  # type: ignore[arg-type]
        origin_lps=tuple(geo.origin_lps),  # type: ignore[arg-type]
        direction=tuple(geo.direction),
        sop_instance_uids=tuple(geo.sop_instance_uids),
        metadata=meta,
    )


def _dropped(pending: Pending, why: str) -> str:
    """What the reader is told of a proposal dropped before Enter."""
    who = f"{pending.lesion_id}'s proposal" if pending.lesion_id else "The proposal"
    return f"{who} at {pending.timepoint} was not accepted: dropped {why}"


#: What Enter does for a lesion offered at follow-up (the status line's end).
_OFFER = "Enter (or Propose) proposes its axes there; Alt+click inside it works too"


@dataclass
class Pending:
    """A proposal on screen, not yet accepted."""

    pane: str
    timepoint: str
    source: SeriesSource
    proposal: Any
    lines: dict[str, np.ndarray]  # axis -> (2, 3) voxel indices as proposed
    lesion_id: str | None = None  # the lesion it was asked for (follow-up), if any
    new: bool = False  # for a new lesion, whatever lesion is active when accepted
    seed_lps: tuple[float, float, float] | None = None  # the click
    nodal: bool = False  # measured as a node (the slice of the largest short axis)


def _same(current: Any, value: Any) -> bool:
    """Whether a layer's transform attribute (scale, translate, affine) already
    equals ``value``."""
    if hasattr(current, "affine_matrix"):
        current = current.affine_matrix
    try:
        a, b = np.asarray(current, float), np.asarray(value, float)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b))


def _one_label(texts: list[str]) -> list[str]:
    """Both axes' lengths in the long axis' label, none on the short axis: napari anchors
    every label of a layer at the same corner of its shape's box, and the two crossing
    lines' boxes share that corner, so two labels would be drawn on top of each other."""
    return [" · ".join(texts)] + [""] * (len(texts) - 1) if texts else []


def _fmt(v: float, decimals: int) -> str:
    return f"{v:.{decimals}f}"


class Assistant:
    """Proposals, their acceptance, and the follow-up jump (see the module).

    Parameters
    ----------
    session : ReadingSession
        The session it serves (panes, reading, active lesion, edit path, notices).
    runner : Runner, optional
        How background work runs (default :func:`run_now`).
    """

    #: After the proposal or the status changed.
    changed = Signal()

    def __init__(self, session: ReadingSession, runner: Runner | None = None) -> None:
        self.session = session
        self.runner: Runner = runner or run_now
        #: Compute the follow-up registration as soon as a follow-up is shown (the Qt
        #: widget turns this on with its thread runner).
        self.prefetch = False
        #: Register the follow-up to baseline by itself (``$RECIST_REGISTRATION=off``: no).
        self.auto_register = os.environ.get(REGISTRATION_ENV, "on").strip().lower() not in (
            "off",
            "0",
            "no",
            "false",
        )
        self.closed = False
        self.pending: Pending | None = None
        self.status = ""
        self.severity = "info"
        self._status_about: str | None = None
        #: (lesion, head) of a non-target's status on show (see _show_non_target).
        self._non_target_shown: tuple[str, str] | None = None
        #: The reading's step of the last acceptance while its status is shown
        #: (any other status clears it).
        self._accepted: Any = None
        self._seen: dict[str, np.ndarray] = {}  # the proposal's lines at the last edit
        #: Seconds from the last click to its proposal drawn.
        self.last_shown_s: float | None = None
        #: Where Enter proposes at follow-up: (lesion id, time point, LPS point).
        self.target: tuple[str, str, tuple[float, float, float]] | None = None
        self._token = 0
        self._volumes: dict[str, tuple[Any, Any]] = {}  # uid -> (layer data, Volume)
        self._layers: dict[str, tuple[Shapes, Shapes]] = {}
        self._cache: Any = None
        self._cache_dir: Path | None = None
        self._requested: set[tuple[str, str]] = set()
        self._waiting: tuple[tuple[str, str], str] | None = None
        self._hooked: list[tuple[Any, Callable]] = []
        self._drawing = False

    # ------------------------------------------------------------------ wiring

    def add_pane(self, pane: Pane) -> None:
        """Listen to Alt+clicks in a pane's viewer."""

        def on_press(viewer: Any, event: Any, p: Pane = pane) -> None:
            if "Alt" not in tuple(event.modifiers) or getattr(event, "button", 1) != 1:
                return
            if p.layers is None:
                return
            # the proposal layer takes this press (not the reader's drawing layer)
            lines, _ = self._pane_layers(p)
            if viewer.layers.selection.active is not lines:
                viewer.layers.selection.active = lines
            # pan_zoom, so that this press neither draws nor drags an end of a proposal
            # on screen; an empty proposal layer in direct mode has nothing to drag (a
            # mode change costs a redraw while the proposal is computed)
            if len(lines.data) or lines.mode not in ("pan_zoom", "direct"):
                lines.mode = "pan_zoom"
            event.handled = True
            self.click(p, event.position)

        pane.viewer.mouse_drag_callbacks.insert(0, on_press)
        self._hooked.append((pane.viewer.mouse_drag_callbacks, on_press))

    def close(self) -> None:
        """Stop listening; results of work still running are dropped."""
        self.closed = True
        for lst, cb in self._hooked:
            if cb in lst:
                lst.remove(cb)
        self._hooked = []
        if self._cache is not None:
            with contextlib.suppress(Exception):
                self._cache.close()

    def volume(self, source: SeriesSource) -> Any:
        """The core's Volume of a loaded series (made once per series)."""
        uid = source.info.series_uid
        made = self._volumes.get(uid)
        if made is None or made[0] is not source.data:
            made = self._volumes[uid] = (source.data, series_volume(source))
        return made[1]

    def _pane_layers(self, pane: Pane) -> tuple[Shapes, Shapes]:
        made = self._layers.get(pane.name)
        viewer = pane.viewer
        if made is not None and all(layer in viewer.layers for layer in made):
            return made
        with self.session._quiet():
            outline = Shapes(
                name=LAYER_NAMES[1],
                ndim=3,
                units=UNITS,
                axis_labels=AXIS_LABELS,
                edge_width=1.0,
                face_color="transparent",
                opacity=0.9,
            )
            lines = Shapes(
                name=LAYER_NAMES[0],
                ndim=3,
                units=UNITS,
                axis_labels=AXIS_LABELS,
                edge_width=1.5,
                features=pd.DataFrame({"axis": pd.Series([], dtype=object)}),
                text={"string": "{label}", "color": "white", "size": 10, "anchor": "upper_left"},
            )
            lines.features = pd.DataFrame(
                {"axis": pd.Series([], dtype=object), "label": pd.Series([], dtype=object)}
            )
            viewer.layers.append(outline)
            viewer.layers.append(lines)
        lines.events.set_data.connect(lambda e, p=pane: self._on_edit(p))
        self._layers[pane.name] = (lines, outline)
        return lines, outline

    def history_step(self, text: str) -> None:
        """An undo or a redo happened: the status says so, instead of a message about
        the step before it ("proposal accepted … Ctrl+Z undoes" after that was undone).
        A proposal still waiting for Enter keeps its own status."""
        if not self.has_pending:
            self._set_status("info", text)
            lid = self.session.active_lesion
            if lid is not None:  # a measurement undone here is offered again (Enter)
                self.lesion_selected(lid, show=False)

    @property
    def asks_attention(self) -> bool:
        """Whether the status asks the reader for something (a proposal waiting, a
        warning, the selected lesion's next step), not a background notice such as
        "Registering baseline to follow-up…"."""
        return self.has_pending or self.severity == "warning" or self._status_about is not None

    def reading_changed(self) -> None:
        """After an edit: "proposal accepted (assisted) … Ctrl+Z undoes" no longer
        describes what Ctrl+Z undoes once another edit followed (an end dragged, a
        status set); the status names the last edit instead."""
        self._target_measured()
        self._non_target_assessed()
        accepted, step = self._accepted, self.session.reading.undo_step
        if accepted is None or step is accepted or self.has_pending:
            return
        if step is not None:
            self._set_status("info", f"Done: {step.summary()}. Ctrl+Z undoes")

    def _target_measured(self) -> None:
        """The lesion Enter would propose at its registered position was measured there
        by hand: Enter no longer proposes (it would replace that measurement) and the
        status stops offering it."""
        target = self.target
        if target is None or self.has_pending:
            return
        lid, label, _ = target
        ids = {le.lesion_id for le in self.session.reading.lesions}
        f = self.session.reading.lesion(lid).findings.get(label) if lid in ids else None
        if lid in ids and (f is None or f.position_lps is None):
            return
        self.target = None
        if self._status_about == lid and lid in ids:
            kind = self.session.reading.lesion(lid).kind
            self._set_status("info", _measured_here(lid, label, kind), about=lid)

    def _non_target_assessed(self) -> None:
        """The status line of a selected non-target follows its status at the current
        time point: "set its status…" gives way to "present at FU1 …" once it is set
        (and comes back when Ctrl+Z takes it away)."""
        s, shown = self.session, self._non_target_shown
        if shown is None or self.has_pending or self._status_about != shown[0]:
            return
        lid, head = shown
        if lid not in {le.lesion_id for le in s.reading.lesions}:
            return
        now = head + _non_target_text(
            s.reading.lesion(lid).findings.get(s.current_tp or ""), s.current_tp
        )
        if now != self.status:
            self._show_non_target(lid, head)

    def _show_non_target(self, lesion_id: str, head: str) -> None:
        """The status of a non-target selected at follow-up: ``head`` (where it is
        shown), then what to do with it or the status it has."""
        s = self.session
        here = s.reading.lesion(lesion_id).findings.get(s.current_tp or "")
        self._set_status("info", head + _non_target_text(here, s.current_tp), about=lesion_id)
        self._non_target_shown = (lesion_id, head)

    def _set_status(self, severity: str, text: str, *, about: str | None = None) -> None:
        """Show ``text``; ``about`` names the lesion a selection's status is about (it
        goes when another lesion is selected)."""
        if self.closed:
            return
        self.severity, self.status = severity, text
        self._status_about = about
        self._non_target_shown = None
        self._accepted = None
        self.changed.emit()

    # ------------------------------------------------------------------ proposing

    def click(self, pane: Pane, world_position: Any) -> None:
        """Alt+click at a world position of a pane: propose the lesion there."""
        pos = np.asarray(world_position, float)
        if pane.layers is None or pos.shape[-1] < 3:
            return
        if pane.state == "read-only":
            self.session._notify(
                "warning",
                f"{pane.timepoint} is read-only in this pane: make it current (or unlock it) "
                "to measure there",
            )
            return
        from recist_tool.reading.assist import proposal_lesion

        seed = tuple(float(v) for v in pos[-3:][::-1])
        s = self.session
        label = pane.timepoint or ""
        expected = self.registered_position(s.active_lesion, label)
        lid = proposal_lesion(s.reading, s.active_lesion, label, seed, expected)
        self.propose_at(pane, seed, lesion_id=lid, new=lid is None)  # type: ignore[arg-type]

    def registered_position(
        self, lesion_id: str | None, label: str
    ) -> tuple[float, float, float] | None:
        """Where the registration puts a baseline lesion at follow-up ``label`` (the
        current time point), or None (no registration known yet, or no baseline
        position). Nothing is computed here: a registration not yet made is not asked
        for."""
        s = self.session
        pair = self._pair()
        base = s.reading.baseline
        ids = {le.lesion_id for le in s.reading.lesions}
        if pair is None or base is None or label != s.current_tp or lesion_id not in ids:
            return None
        bf = s.reading.lesion(lesion_id).findings.get(base.label)
        if bf is None or bf.position_lps is None:
            return None
        reg = self.cache().get(pair[0].info.series_uid, pair[1].info.series_uid)
        return None if reg is None else _to_follow_up(reg, bf.position_lps)

    def propose_here(self) -> bool:
        """Propose at the selected lesion's registered position (follow-up). False when
        there is nothing to propose at."""
        s = self.session
        pane = s.panes["current"]
        if self.target is None or pane.timepoint != self.target[1]:
            self._set_status("info", "Alt+click inside a lesion for a proposal")
            return False
        lid, _, lps = self.target
        self.propose_at(pane, lps, lesion_id=lid)
        return True

    def propose_at(
        self,
        pane: Pane,
        seed_lps: tuple[float, float, float],
        lesion_id: str | None = None,
        new: bool = False,
    ) -> None:
        """Propose the lesion at ``seed_lps`` on the series ``pane`` shows (through
        :attr:`runner`): for ``lesion_id``, a new lesion (``new``), else the active
        one."""
        from recist_tool.measure import propose

        pl = pane.layers
        if pl is None or pl.source is None:
            return
        s = self.session
        lid = None if new else lesion_id or s.active_lesion
        ids = {le.lesion_id for le in s.reading.lesions}
        nodal = s.reading.lesion(lid).nodal if lid in ids else bool(s.form.get("nodal"))
        volume = self.volume(pl.source)
        self._token += 1
        token, t0, label, source = self._token, time.perf_counter(), pl.timepoint, pl.source
        self._set_status("info", "Proposing…")

        def done(p: Any) -> None:
            where = (tuple(seed_lps), nodal)
            self._show(token, pane, label, source, p, t0, lesion_id, new, where)

        def failed(exc: BaseException) -> None:
            if token == self._token:
                self._set_status("warning", f"No proposal: {exc}")
                s._notify("warning", f"No proposal here: {exc}")

        self.runner(lambda: propose(volume, seed_lps, nodal=nodal), done, failed)

    def _show(
        self,
        token: int,
        pane: Pane,
        label: str,
        source: SeriesSource,
        proposal: Any,
        t0: float,
        lesion_id: str | None,
        new: bool = False,
        where: tuple[Any, bool] = (None, False),
    ) -> None:
        """Draw ``proposal`` as the pending one, unless a newer click superseded it;
        ``where``: the click (LPS) and whether it was measured as a node."""
        pl = pane.layers
        if (
            self.closed
            or token != self._token
            or pl is None
            or pl.timepoint != label
            or pl.source is not source
        ):
            return  # superseded by a newer click, or the pane shows something else now
        geo = pl.geometry
        lines = {
            "long": geo.lps_to_index(np.asarray(proposal.long_axis_lps, float)),
            "short": geo.lps_to_index(np.asarray(proposal.short_axis_lps, float)),
        }
        self.pending = Pending(pane.name, label, source, proposal, lines, lesion_id, new, *where)
        self._draw(pane, pl)
        k = int(proposal.slice_index)
        ny, nx = pl.image.data.shape[1:]
        z = float(geo.index_to_lps([k, (ny - 1) / 2, (nx - 1) / 2])[2])
        if abs(self.session.nav.z(pane) - z) > 1e-6:
            self.session.nav.set_z(pane, z)
        self.last_shown_s = time.perf_counter() - t0
        self.describe()

    def _draw(self, pane: Pane, pl: PaneLayers) -> None:
        pending = self.pending
        assert pending is not None
        p = pending.proposal
        lines, outline = self._pane_layers(pane)
        self._drawing = True  # our own data changes are no edit (see _on_edit)
        try:
            self._fill(pane, pl, p, lines, outline)
        finally:
            self._drawing = False

    def _fill(self, pane: Pane, pl: PaneLayers, p: Any, lines: Shapes, outline: Shapes) -> None:
        pending = self.pending
        assert pending is not None
        tf = pl.source.transform if pl.source is not None else {}
        for layer in (lines, outline):
            for key, value in tf.items():
                # each assignment refreshes the layer (tens of ms): only on a change
                if not _same(getattr(layer, key), value):
                    setattr(layer, key, value)
        colors = COLORS["low" if p.low_confidence else "ok"]
        paths = [np.vstack([poly, poly[:1]]) for poly in p.outline_zyx if len(poly) > 1]
        with self.session._quiet():
            # each data change refreshes a layer: none for a layer already empty
            if len(outline.data):
                outline.data = []
            if paths:
                outline.add(paths, shape_type="path", edge_color=colors[2], edge_width=1.0)
            if len(lines.data) or len(lines.features):
                lines.data = []
                lines.features = pd.DataFrame(
                    {"axis": pd.Series([], dtype=object), "label": pd.Series([], dtype=object)}
                )
            lines.add(
                [pending.lines["long"], pending.lines["short"]],
                shape_type="line",
                edge_color=[colors[0], colors[1]],
                edge_width=1.5,
            )
            lines.features = pd.DataFrame(
                {"axis": ["long", "short"], "label": _one_label(self._labels(pl, lines))},
                dtype=object,
            )
            lines.refresh_text()
            for layer in (outline, lines):
                if not layer.visible:  # a visibility change re-slices the layer
                    layer.visible = True
            if pane.viewer.layers.selection.active is not lines:
                pane.viewer.layers.selection.active = lines
            if lines.mode != "direct":
                lines.mode = "direct"  # an end point dragged edits the proposal
            # selected: napari shows the ends as handles and one press drags an end
            # (unselected, the first press only selected the line)
            lines.selected_data = set(range(len(lines.data)))
        self._seen = {k: np.array(v, float) for k, v in pending.lines.items()}

    def _labels(self, pl: PaneLayers, lines: Shapes) -> list[str]:
        out = []
        for axis, verts in zip(("long", "short"), lines.data[:2], strict=False):
            mm = Line.from_indices(pl.geometry, verts[0], verts[1]).length_mm
            out.append(f"{'LA' if axis == 'long' else 'SA'} {_fmt(mm, LENGTH_DECIMALS)} mm")
        return out

    def _current_lines(self) -> dict[str, np.ndarray] | None:
        pending = self.pending
        if pending is None:
            return None
        lines, _ = self._layers[pending.pane]
        feats = lines.features
        out = {}
        for i, verts in enumerate(lines.data):
            axis = str(feats["axis"].iloc[i]) if i < len(feats) else ""
            if axis in ("long", "short") and len(verts) == 2:
                out[axis] = np.asarray(verts, float)
        return out

    def _on_edit(self, pane: Pane) -> None:
        """An end of a proposed line is dragged: live lengths."""
        pending = self.pending
        pl = pane.layers
        if pending is None or pending.pane != pane.name or pl is None or self._drawing:
            return
        lines, _ = self._layers[pane.name]
        if len(lines.data) != 2:
            return
        # the line whose end moved since the last event (both lines are selected, so
        # not the selection's last); none: napari's own set_data after the drawing,
        # or the release — the last length stands
        current = self._current_lines() or {}
        axes = [str(x) for x in lines.features["axis"]]
        moved = [
            j
            for j, ax in enumerate(axes)
            if ax in self._seen and not np.allclose(current[ax], self._seen[ax], atol=1e-6)
        ]
        if not moved:
            return
        i = moved[0]
        self._seen = {k: np.array(v, float) for k, v in current.items()}
        labels = self._labels(pl, lines)
        lines.features.loc[:, "label"] = _one_label(labels)
        lines.refresh_text()
        text = labels[i].split(" ", 1)[1]
        self.session.syncs[pane.name].show_live(text, lines.data[i][1])
        self.session.live.emit(text)
        self.describe()

    def describe(self) -> None:
        """Say what the proposal on screen measures and what Enter records it as."""
        pending = self.pending
        if pending is None:
            return
        p = pending.proposal
        pl = self.session.panes[pending.pane].layers
        lines = self._current_lines() or pending.lines
        mm = {
            axis: Line.from_indices(pl.geometry, v[0], v[1]).length_mm if pl else float("nan")
            for axis, v in lines.items()
        }
        text = (
            f"Proposal for {self._destination(pending)} at {pending.timepoint}: "
            f"LA {_fmt(mm.get('long', 0.0), LENGTH_DECIMALS)} mm"
            f" · SA {_fmt(mm.get('short', 0.0), LENGTH_DECIMALS)} mm"
            f" · {_fmt(p.volume_ml, VOLUME_DECIMALS)} mL · {_fmt(p.mean_hu, HU_DECIMALS)} HU"
            f" · confidence {p.confidence:.2f}"
        )
        if p.low_confidence:
            text = f"⚠ Doubtful proposal — {p.reason or 'low confidence'}. {text}"
        elif p.reason:
            text += f" ({p.reason})"
        text += ". Enter accepts, Esc rejects; drag an end to change it."
        self._set_status("warning" if p.low_confidence else "info", text)

    def _destination(self, pending: Any) -> str:
        """What Enter records the proposal as: the lesion it is for, or a new lesion of
        the form's kind and organ (set them before Enter: a click does not know the
        organ)."""
        s = self.session
        lid = pending.lesion_id or (None if pending.new else s.claimant())
        if lid is not None:
            return str(lid)
        kind = kind_first_seen(s.reading, pending.timepoint, s.form["kind"])
        return f"a lesion to add ({_kind_organ({**s.form, 'kind': kind})}: the form above)"

    def form_changed(self) -> None:
        """The form's kind, organ or node flag changed: a proposal for a new lesion says
        what it will be recorded as; one measured with the other node flag is measured
        again (a node's slice is that of its largest short axis)."""
        pending = self.pending
        if pending is None:
            return
        nodal = bool(self.session.form.get("nodal"))
        if pending.new and pending.seed_lps is not None and pending.nodal != nodal:
            self.propose_at(self.session.panes[pending.pane], pending.seed_lps, new=True)
            return
        self.describe()

    # ------------------------------------------------------------------ accept / reject

    @property
    def has_pending(self) -> bool:
        """Whether a proposal waits for Enter or Esc."""
        return self.pending is not None

    def can_enter(self) -> bool:
        """Whether Enter has something to do (accept, or propose at follow-up)."""
        return self.pending is not None or self.target is not None

    def enter(self) -> None:
        """Enter: accept the proposal shown, else propose at the registered position."""
        if self.pending is not None:
            self.accept()
        else:
            self.propose_here()

    def accept(self) -> str | None:
        """Accept the proposal on screen (with the reader's changes): one undoable,
        audited operation. Returns the lesion id (None when refused or none shown)."""
        pending = self.pending
        s = self.session
        if pending is None:
            return None
        pane = s.panes[pending.pane]
        pl = pane.layers
        if pl is None or pl.timepoint != pending.timepoint or pl.source is not pending.source:
            self.reject(quiet=True)
            return None
        current = self._current_lines() or {}
        geo = pl.geometry
        label = pending.timepoint

        def run() -> str:
            r: Reading = s.reading
            with r.transaction("accept_proposal"):
                lid = pending.lesion_id or (
                    s._new_lesion(label) if pending.new else s._claim(label)
                )
                apply_proposal(r, lid, label, pending.proposal, geo)
                for axis, verts in current.items():
                    if not np.allclose(verts, pending.lines[axis], atol=1e-5):
                        r.set_line(lid, label, axis, Line.from_indices(geo, verts[0], verts[1]))
            return lid

        lid = s._apply(run)
        if lid is None:
            return None  # refused: the reason is in the messages; the proposal stays
        self._clear()
        s.active_lesion = lid
        self.target = None
        f = s.reading.lesion(lid).findings.get(label)
        method = f.method if f is not None else ""
        lesion = s.reading.lesion(lid)
        what = _kind_organ({"kind": lesion.kind, "organ": lesion.organ, "nodal": lesion.nodal})
        self._set_status(
            "info", f"{lid} ({what}) at {label}: proposal accepted ({method}). Ctrl+Z undoes"
        )
        self._accepted = s.reading.undo_step
        pane.viewer.layers.selection.active = pl.lines
        pl.lines.mode = "direct"  # an end dragged now edits the measurement
        s.show_handles()  # its ends are handles: the first press drags one
        s.arm(s.active_axis, activate=False)
        s.changed.emit()
        return lid

    def reject(self, quiet: bool = False) -> None:
        """Discard the proposal on screen (nothing reaches the reading)."""
        if self.pending is None:
            return
        self._clear()
        if not quiet:
            self._set_status("info", "Proposal rejected")

    def _clear(self) -> None:
        pending, self.pending = self.pending, None
        self._token += 1
        if pending is None:
            return
        made = self._layers.get(pending.pane)
        if made is None:
            return
        with self.session._quiet():
            for layer in made:
                layer.data = []  # empty, left visible: showing it again costs a re-slice
        self.session.syncs[pending.pane].hide_live()

    def view_changed(self) -> None:
        """After the session changed: drop a proposal whose pane moved on; fetch the
        follow-up registration early when :attr:`prefetch`."""
        pending = self.pending
        if pending is not None:
            pl = self.session.panes[pending.pane].layers
            if pl is None or pl.timepoint != pending.timepoint or pl.source is not pending.source:
                self.reject(quiet=True)
                self._set_status("info", "")
                now = "another series" if pl is None or pl.timepoint is None else pl.timepoint
                self.session._notify("warning", _dropped(pending, f"(the pane shows {now} now)"))
        if self.target is not None and self.target[1] != self.session.current_tp:
            if self._status_about == self.target[0] and not self.has_pending:
                self._set_status("info", "")  # "… proposes its axes there" is void here
            self.target = None
        if self.prefetch and self.auto_register and not self.closed:
            pair = self._pair()
            if pair is not None:
                self._registration(*pair)

    # ------------------------------------------------------------------ follow-up

    def _pair(self) -> tuple[SeriesSource, SeriesSource] | None:
        s = self.session
        base = s.reading.baseline
        if base is None or s.current_tp in (None, base.label):
            return None
        fixed, moving = s._display(base.label), s._display(s.current_tp)
        if fixed is None or moving is None or fixed is moving:
            return None
        return fixed, moving

    def cache(self) -> Any:
        """The registration cache of the reading (next to its CSV; memory only before
        a patient is known)."""
        from recist_tool.register import RegistrationCache

        path = self.session.save_path
        folder = None if path is None else path.parent / f"{path.stem}.registrations"
        if self._cache is None or folder != self._cache_dir:
            if self._cache is not None:
                self._cache.close()
            self._cache = RegistrationCache(folder)
            self._cache_dir = folder
            self._requested = set()
        return self._cache

    def _registration(self, fixed: SeriesSource, moving: SeriesSource) -> Any:
        """The registration of the pair if known; else start it (once) and return None."""
        from recist_tool.register import RegistrationCancelled

        cache = self.cache()
        key = (fixed.info.series_uid, moving.info.series_uid)
        reg = cache.get(*key)
        if reg is not None:
            return reg
        if key not in self._requested:
            self._requested.add(key)
            fv, mv = self.volume(fixed), self.volume(moving)
            self._set_status("info", "Registering baseline to follow-up in the background…")

            def done(_: Any, key: tuple[str, str] = key) -> None:
                if cache.write_error:  # a read-only folder: kept for this session only
                    error, cache.write_error = cache.write_error, None
                    self.session._notify("warning", error)
                self._registered(key)

            def failed(exc: BaseException, key: tuple[str, str] = key) -> None:
                self._requested.discard(key)
                if self.closed or isinstance(exc, RegistrationCancelled):
                    return  # the window or the reading closed: nothing to tell
                self.session._notify("warning", f"Registration failed: {exc}")

            self.runner(lambda: cache.compute(fv, mv), done, failed)
        return cache.get(*key)

    def _registered(self, key: tuple[str, str]) -> None:
        if self.closed:
            return
        waiting, self._waiting = self._waiting, None
        if waiting is not None and waiting[0] == key and self.session.active_lesion == waiting[1]:
            # A proposal made meanwhile (Enter at the same patient position) waits for
            # Enter or Esc: its view and status stay; Enter after Esc proposes at the
            # registered position.
            self.lesion_selected(waiting[1], show=not self.has_pending)
        elif self.status.startswith("Registering"):
            self._set_status("info", "Follow-up registered to baseline")

    def selection_moving(self, lesion_id: str | None) -> None:
        """Another lesion is being selected while a proposal waits for Enter. A proposal
        asked for a lesion (at follow-up: Enter at its registered position) is dropped,
        and the reader told: Enter after Alt+J to the next lesion accepted the previous
        lesion's proposal, while the status offered a proposal for the new one. A
        proposal for "the selected lesion" (an Alt+click) stays: :meth:`describe` then
        names the lesion Enter records it as."""
        pending = self.pending
        if pending is None or pending.lesion_id is None or lesion_id in (None, pending.lesion_id):
            return
        self.reject(quiet=True)
        self._set_status("info", "")  # its text goes with it; the selection sets the next
        self.session._notify(
            "warning",
            _dropped(pending, f"when {lesion_id} was selected")
            + f" (select {pending.lesion_id} and press Enter to propose it again)",
        )

    def lesion_selected(self, lesion_id: str | None, *, show: bool = True) -> None:
        """A lesion was selected: at follow-up, move the current pane to its registered
        position when it is not marked there yet, and offer a proposal there (with
        ``show`` False: only offer it, the pane and the status stay)."""
        s = self.session
        self.target = None
        if show and self._status_about is not None and not self.has_pending:
            # the last selection's status ("NT1: set its status…", an offer at another
            # time point) is stale now; what follows sets this one's
            self._set_status("info", "")
        pair = self._pair()
        ids = {le.lesion_id for le in s.reading.lesions}
        if lesion_id is None or pair is None or lesion_id not in ids:
            return
        label = s.current_tp
        base = s.reading.baseline
        lesion = s.reading.lesion(lesion_id)
        here = lesion.findings.get(label or "")
        if here is not None and here.position_lps is not None:
            if show and not self.has_pending:  # the session showed it
                self._set_status(
                    "info", _measured_here(lesion_id, label, lesion.kind), about=lesion_id
                )
            return
        bf = lesion.findings.get(base.label) if base is not None else None
        pos = None if bf is None else bf.position_lps
        if pos is None:
            return
        pane = s.panes["current"]
        offer = proposes_at_follow_up(lesion.kind)
        if self.auto_register:
            reg = self._registration(*pair)
        else:
            key = (pair[0].info.series_uid, pair[1].info.series_uid)
            reg = self.cache().get(*key)
            if reg is None:  # not asked to register: the same patient position
                if offer:
                    self.target = (lesion_id, label, tuple(float(v) for v in pos))  # type: ignore[arg-type]
                    if show:
                        self._set_status(
                            "info",
                            f"{lesion_id}: the same patient position as at baseline "
                            f"(registration off). {_OFFER}",
                            about=lesion_id,
                        )
                return
        if reg is None:  # not known yet: the session's jump (same patient position) stands
            self._waiting = ((pair[0].info.series_uid, pair[1].info.series_uid), lesion_id)
            waiting = (
                f"{lesion_id}: registering baseline to {label}… (showing the same "
                "patient position meanwhile). "
            )
            if offer:
                self.target = (lesion_id, label, tuple(float(v) for v in pos))  # type: ignore[arg-type]
            if show and offer:
                self._set_status("info", waiting + "Enter or Alt+click proposes", about=lesion_id)
            elif show:
                self._show_non_target(lesion_id, waiting)
            return
        moved = _to_follow_up(reg, pos)
        if not show:
            if offer:
                self.target = (lesion_id, label, moved)  # type: ignore[assignment]
            return
        s.nav.center_on(pane, moved)  # type: ignore[arg-type]
        s._update_title(pane)
        where = f"{lesion_id}: its registered position at {label} (S {moved[2]:.1f} mm). "
        if not offer:  # a non-target: its status is what is read, not its axes
            self._show_non_target(lesion_id, where)
            return
        self.target = (lesion_id, label, moved)  # type: ignore[assignment]
        self._set_status("info", where + _OFFER, about=lesion_id)

    # ------------------------------------------------------------------ hand-drawn lines

    def fill_mean_hu(self, reading: Reading, pl: PaneLayers, lesion_ids: list[str]) -> None:
        """Inside a drawing's operation: the ``mean_hu`` of hand-drawn findings whose
        lines changed (circular ROI on the long axis; see the module)."""
        from recist_tool.measure import RoiError, line_roi_mean_hu

        if pl.source is None:
            return
        for lid in lesion_ids:
            f = reading.lesion(lid).findings.get(pl.timepoint)
            if f is None or f.method is not None:
                continue  # assisted: the segmentation's mean stays
            line = f.long_axis
            if line is None or line.series_uid != pl.source.info.series_uid:
                f.mean_hu = None
                continue
            short = f.short_axis.length_mm if f.short_axis is not None else None
            try:
                f.mean_hu = line_roi_mean_hu(
                    self.volume(pl.source), [line.p1_lps, line.p2_lps], short
                )
            except RoiError:
                f.mean_hu = None


__all__ = [
    "COLORS",
    "LAYER_NAMES",
    "REGISTRATION_ENV",
    "Assistant",
    "Pending",
    "Runner",
    "run_now",
    "series_volume",
]
