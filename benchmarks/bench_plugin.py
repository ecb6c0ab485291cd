"""Benchmark of the napari plugin (run under a display: ``xvfb-run -a``).

1. **Opening** a 512 × 512 × 300 CT series with the widget (*Open study…*: the loader,
   the reading, the current pane's layers, until the canvas has *finished* the first
   draw that starts with the study in the pane (its image layer shown), i.e. the draw
   showing the opened study), against the core loader alone
   (``recist_tool.dicom.load_series``) in the same run. Goal: within 1.5 × the loader.
   Each open is in a new napari window with the widget docked; so is the loader alone
   (timed in such a window until it returns: right after a napari window closed, the
   process's first 150 MB load was measured 2–6 × slower than the next, which made the
   loader-alone peer slower than a whole open in some runs). Two figures: *warmed* — the
   widget's docking warm-up (``ViewSettings.warm_up``: the empty pane drawn once,
   transparent, so the canvas builds its shader programs and text glyphs when the widget
   is docked) has been drawn before Open study, which is what a reader gets; *cold* —
   warm-up off (``RECIST_VIEW=warm_up=0``), so the first draw pays napari's per-canvas
   start-up (about 10 shader programs, ~40 glyphs). CPU time of the process is printed
   too (the machine is shared). ``viewer.open(folder, plugin=...)`` (napari's File ›
   Open, the widget docked and warmed) is measured too. All of these read files that are
   in the page cache (read just before); the pair *from disk* evicts the series' files
   from the page cache (``posix_fadvise(DONTNEED)`` on each) before the loader alone and
   before the widget's open, as when a reader opens a study not read since the machine
   started. Until 2026-12 this figure was taken at the first draw *event* (vispy emits
   it before drawing) after Open study started; that draw was a synchronous repaint in
   the middle of the open (napari's slider appearing) with the layers still hidden, so
   it timed an empty canvas: the old figures (0.175 s, 2.9 ×) understated the open.
   Since 2026-12-07 the widget opens a series streaming (``load_series(...,
   stream=True)``: headers read and checked, the slice shown read from its file, the
   rest read in a background thread once the canvas has drawn the study; the panels
   follow that draw too), so the time until the whole series is in memory and the
   time until the panels show the study are printed as well; the loader alone reads
   everything, as before.
2. **Slice step with annotations**: 8 targets × 6 time points, the comparison pane
   shown; a real Down key press on napari's canvas until both canvases have drawn the
   next slice (the comparison follows by patient position). Since 2026-12 "drawn"
   means both draws *finished*; the time until both draws *started* (what was
   measured before) is printed too. Peers, same run, the same real key press until
   every canvas finished its draw: the floor, plain napari with two canvases (a
   second ``ViewerModel`` + ``QtViewer`` docked, following by world z, each canvas
   the size of the plugin's one it stands for, one image of the same size each),
   and plain napari with one canvas (full window). Goal: under 50 ms.
3. **Edit → response**: a vertex of one line dragged (napari's mouse callbacks:
   press, moves, release) and the time from the release until the widget shows the
   new response (commit as one undoable operation, audit line, RECIST engine on 48
   rows, recovery file, labels, panels). Goal: under 50 ms.
4. **Undo**: a real Ctrl+Z key press until the widget shows the restored reading
   (the same work as an edit, plus redrawing the panes). Goal: under 50 ms.

Usage::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/bench_plugin.py \\
        [--repeat 5] [--edits 20] [--steps 30]

The 300-slice series is synthesised once (``recist_tool.synth.phantom.write_series``)
into ``$RECIST_BENCH_DIR`` (default: the system temp folder). Figures are medians
(and 95th percentiles) of one run; the machine's load average is printed with them.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

SHAPE = (300, 512, 512)


def series_folder() -> Path:
    """The benchmark series, written on first use."""
    root = Path(os.environ.get("RECIST_BENCH_DIR", tempfile.gettempdir()))
    folder = root / "recist_bench_ct_300x512x512"
    done = folder / ".complete"
    if not done.exists():
        from recist_tool.synth.phantom import write_series

        print(f"writing {SHAPE} series to {folder} (once) …", flush=True)
        write_series(folder, shape=SHAPE, transfer_syntax="explicit", seed=7)
        done.write_text("ok\n")
    return folder


def _canvas_draws(qt_canvas_owner, when: str = "end") -> list[float]:
    """Times at which draws of a napari/QtViewer canvas finished (``when="end"``) or
    started (``"start"``; vispy emits its draw event before drawing). Benchmark only:
    vispy's draw event of the canvas."""
    drawn: list[float] = []
    qt_canvas_owner.canvas._scene_canvas.events.draw.connect(
        lambda _e: drawn.append(time.perf_counter()),
        position="last" if when == "end" else "first",
    )
    return drawn


def _wait(drawn: list[float], app, timeout: float = 10.0) -> float:
    end = time.perf_counter() + timeout
    while not drawn and time.perf_counter() < end:
        app.processEvents()
    return drawn[0] if drawn else float("nan")


def _evict(folder: Path) -> None:
    """Drop the series' files from the page cache (the next read is from disk)."""
    for f in folder.iterdir():
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _open_once(
    folder: Path, way: str, warm: bool, from_disk: bool = False
) -> tuple[float, float, float, float]:
    """One open in a new napari window with the widget docked: seconds (wall, CPU)
    from the call until the first draw that starts with the study in the pane (its
    image layer shown) has finished; then until the whole series is in memory (read
    in the background since 2026-12: ``recist_tool.dicom.stream``) and until the
    widget's panels show the study (they follow the first draw). The window is
    closed only once the series is read (the next measurement runs alone)."""
    import napari
    from napari_recist._qt.widget import RecistWidget
    from napari_recist._session import PLUGIN
    from qtpy.QtCore import QEventLoop, QTimer
    from qtpy.QtWidgets import QApplication

    if warm:
        os.environ.pop("RECIST_VIEW", None)
    else:
        os.environ["RECIST_VIEW"] = "warm_up=0"
    viewer = napari.Viewer(show=True)
    w = RecistWidget(viewer)
    viewer.window.add_dock_widget(w, area="right")
    app = QApplication.instance()
    end = time.perf_counter() + 30
    while not w.warmed_up and time.perf_counter() < end:
        app.processEvents()
    assert w.warmed_up, "the docking warm-up was not drawn"
    for _ in range(5):
        app.processEvents()
    drawn = _canvas_draws(viewer.window._qt_viewer)
    # whether the study was in place (its image layer shown) when each draw started
    # (``viewer.open`` draws synchronously, within the call, from napari's progress
    # bar, after the layers are in place: that draw counts; one of an empty pane not)
    in_place: list[bool] = []

    def on_draw_start(_e) -> None:
        pl = w.session.layers_of("baseline")
        in_place.append(pl is not None and pl.image.visible)

    viewer.window._qt_viewer.canvas._scene_canvas.events.draw.connect(
        on_draw_start, position="first"
    )
    # wait without spinning (the CPU time is the work's): sleep until Qt has events,
    # a timer wakes the loop at least every 20 ms
    wake = QTimer()
    wake.start(20)
    wait = QEventLoop.ProcessEventsFlag.WaitForMoreEvents
    gc.collect()
    if from_disk:
        _evict(folder)
    t0, c0 = time.perf_counter(), time.process_time()
    if way == "loader":  # the peer, in the same state of the process as an open
        from recist_tool.dicom import load_series

        vol = load_series(folder)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert vol.array.shape == SHAPE
        del vol
        wake.stop()
        viewer.close()
        gc.collect()
        return wall, cpu, wall, wall
    panels: list[float] = []
    w.session.changed.connect(lambda: panels.append(time.perf_counter()))
    if way == "widget":
        w.open_folder(folder)
    else:
        viewer.open(folder, plugin=PLUGIN)
    while not any(in_place[: len(drawn)]):
        app.processEvents(wait)
    done = drawn[in_place.index(True)]
    wall, cpu = done - t0, time.process_time() - c0
    data = w.session.layers_of("baseline").source.data  # type: ignore[union-attr]
    read: list[float] = []
    if hasattr(data, "add_done_callback"):  # a StreamedArray
        data.add_done_callback(lambda a: read.append(time.perf_counter()))
    else:
        read.append(done)
    end = time.perf_counter() + 30
    while (not read or not panels) and time.perf_counter() < end:
        app.processEvents(wait)
    assert read and panels, "the series was not read, or the panels not refreshed"
    wake.stop()
    os.environ.pop("RECIST_VIEW", None)
    viewer.close()
    gc.collect()
    return wall, cpu, read[0] - t0, panels[0] - t0


def bench_open(repeat: int) -> dict[str, float]:
    """Seconds (medians and bests; CPU medians): the loader alone; the widget's Open
    study until drawn, warmed and cold; ``viewer.open`` with the widget docked."""
    from recist_tool.dicom import load_series

    folder = series_folder()
    load_series(folder)  # warm the file cache and imports
    runs: dict[str, list[tuple[float, float, float, float]]] = {
        "core": [],
        "widget": [],
        "cold": [],
        "napari_open": [],
        "core_disk": [],
        "widget_disk": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RECIST_READINGS_DIR"] = tmp
        for _ in range(repeat):
            runs["core"].append(_open_once(folder, "loader", warm=True))
            runs["widget"].append(_open_once(folder, "widget", warm=True))
            runs["cold"].append(_open_once(folder, "widget", warm=False))
            runs["napari_open"].append(_open_once(folder, "viewer.open", warm=True))
            runs["core_disk"].append(_open_once(folder, "loader", warm=True, from_disk=True))
            runs["widget_disk"].append(_open_once(folder, "widget", warm=True, from_disk=True))
            load_series(folder)  # back in the page cache for the next round
    out = {
        "ratio_per_run": statistics.median(
            w[0] / c[0] for w, c in zip(runs["widget"], runs["core"], strict=True)
        )
    }
    for name, values in runs.items():
        out[f"{name}_s"] = statistics.median(v[0] for v in values)
        out[f"{name}_min_s"] = min(v[0] for v in values)
        out[f"{name}_cpu_s"] = statistics.median(v[1] for v in values)
        out[f"{name}_read_s"] = statistics.median(v[2] for v in values)
        out[f"{name}_panels_s"] = statistics.median(v[3] for v in values)
    return out


def _volume(t: int, shape=(40, 256, 256)):
    """A small in-memory series per time point (image size does not change an edit)."""
    from recist_tool.dicom import Volume

    rng = np.random.default_rng(t)
    return Volume(
        array=rng.integers(-100, 100, size=shape, dtype=np.int16),
        spacing_zyx=(5.0, 0.75, 0.75),
        origin_lps=(-96.0, -96.0, -100.0),
        direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
        slice_thickness=5.0,
        sop_instance_uids=tuple(f"1.2.826.0.1.{t}.{k}" for k in range(shape[0])),
        window=(40.0, 400.0),
        metadata={
            "patient_id": "BENCH",
            "series_instance_uid": f"1.2.826.0.1.{t}",
            "series_number": 2,
            "series_description": f"CT {t}",
            "study_date": f"2024{t + 1:02d}15",
            "modality": "CT",
        },
    )


def _reading_widget(readings_dir: Path):
    """A shown napari window with the widget, 6 time points, 8 targets measured at
    each, the last time point current and the comparison pane on."""
    import napari
    from napari_recist._layers import image_layer_data
    from napari_recist._qt.widget import RecistWidget
    from qtpy.QtWidgets import QApplication

    os.environ["RECIST_READER"] = "bench"
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1600, 1000)
    widget = RecistWidget(viewer, readings_dir=str(readings_dir))
    viewer.window.add_dock_widget(widget, area="right")
    app = QApplication.instance()
    app.processEvents()
    s = widget.session
    s.open_layers([image_layer_data(_volume(t)) for t in range(6)])
    labels = [tp.label for tp in s.reading.timepoints]
    assert len(labels) == 6
    organs = ["liver", "liver", "lung", "lung", "kidney", "spleen", "bone", "adrenal gland"]
    for j, label in enumerate(labels):
        s.show_timepoint(label)
        for i, organ in enumerate(organs):
            if j == 0:
                s.form = {"kind": "target", "organ": organ, "nodal": False}
                s.add_lesion()
            lid = f"T{i + 1}"
            s.select_lesion(lid, jump=False)
            s.arm("long", activate=False)
            z = 5 + 4 * i
            s.layers_of(label).lines.add_lines(
                np.array([[z, 40.0 + 20 * i, 40.0], [z, 40.0 + 20 * i, 120.0 - 3 * j]])
            )
    assert len(s.reading.to_measurements()) == 48
    widget.compare_box.setChecked(True)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    s.flush()
    return viewer, widget, app


class _StepKeys:
    """Peer key handling: Down/Up on a canvas step its viewer one slice (a Qt event
    filter on the canvas widget, like the plugin's own key filter), so the peers are
    driven by the same real key press as the plugin."""

    def __init__(self, widget, viewer) -> None:
        from qtpy.QtCore import QEvent, QObject, Qt

        keys = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1}

        class Filter(QObject):
            def eventFilter(self, obj, event):
                if event.type() == QEvent.Type.KeyPress and event.key() in keys:
                    d = viewer.dims
                    d.set_current_step(0, d.current_step[0] + keys[event.key()])
                    return True
                return False

        self.filter = Filter()
        widget.installEventFilter(self.filter)


def _peer_steps(steps: int, images: list, kwargs: dict, sizes: list, app) -> list[float]:
    """Plain napari, no plugin: one canvas per image (a second ``ViewerModel`` +
    ``QtViewer`` docked beside napari's canvas for the second image, following the
    first by world z, as the plugin's comparison pane does). Each canvas is given
    the size of the plugin's canvas it stands for (``sizes``; None: the window's
    layout). A real Down/Up key press on the first canvas until every canvas has
    finished its draw. Seconds per step."""
    import napari
    from napari.components import ViewerModel
    from napari.qt import QtViewer

    viewer = napari.Viewer(show=True)
    viewer.window.resize(1600, 1000)
    viewer.add_image(images[0], **kwargs)
    owners = [viewer.window._qt_viewer]
    if len(images) > 1:
        model = ViewerModel(title="peer comparison")
        model.add_image(images[1], **kwargs)
        qv = QtViewer(model)
        viewer.window.add_dock_widget(qv, area="right", name="comparison")
        viewer.dims.events.point.connect(lambda _e: model.dims.set_point(0, viewer.dims.point[0]))
        owners.append(qv)
    for owner, size in zip(owners, sizes, strict=False):
        if size is not None:
            owner.canvas.native.setFixedSize(*size)
    canvas = owners[0].canvas.native
    keys = _StepKeys(canvas, viewer)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    for model_ in (o.viewer for o in owners):
        model_.dims.set_current_step(0, 5)
        model_.reset_view()
    draws = [_canvas_draws(owner) for owner in owners]
    out = [max(waits) - t0 for t0, waits in _key_steps(app, canvas, draws, steps)]
    z = [o.viewer.dims.point[0] for o in owners]
    assert len(set(z)) == 1, f"the peer's canvases show different z: {z}"
    del keys
    for owner in owners[1:]:
        owner.close()
    viewer.close()
    return out


def _key_steps(app, canvas, draws: list[list[float]], steps: int):
    """Press Down (Up every other ten) on ``canvas`` ``steps`` times; yield the press
    time and the time each of ``draws`` saw its draw."""
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    for k in range(steps):
        for _ in range(3):
            app.processEvents()
        for d in draws:
            d.clear()
        key = Qt.Key.Key_Down if (k // 10) % 2 == 0 else Qt.Key.Key_Up
        t0 = time.perf_counter()
        QTest.keyClick(canvas, key)
        yield t0, [_wait(d, app) for d in draws]


def bench_steps(steps: int, readings_dir: Path) -> dict[str, float]:
    """Slice step (ms): Down on napari's canvas until both canvases drew. Peers, same
    run: plain napari with two canvases of the plugin's canvas sizes, one image each
    (the floor for two panes), and plain napari with one canvas (full window)."""

    viewer, widget, app = _reading_widget(readings_dir)
    s = widget.session
    canvas = widget.main_canvas()
    s.nav.set_z(s.panes["current"], 5.0)
    owners = (viewer.window._qt_viewer, widget.compare_pane.qt_viewer)
    draws = [_canvas_draws(owner, when) for owner in owners for when in ("end", "start")]
    times, started = [], []
    for t0, (main_end, main_start, cmp_end, cmp_start) in _key_steps(app, canvas, draws, steps):
        times.append(max(main_end, cmp_end) - t0)
        started.append(max(main_start, cmp_start) - t0)
    assert s.nav.z(s.panes["comparison"]) == s.nav.z(s.panes["current"])
    images = [s.panes[name].layers.image for name in ("current", "comparison")]
    data = [image.data for image in images]
    kwargs = {
        "scale": tuple(images[0].scale),
        "translate": tuple(images[0].translate),
        "contrast_limits": tuple(images[0].contrast_limits),
        "colormap": "gray",
    }
    sizes = [(o.canvas.native.width(), o.canvas.native.height()) for o in owners]
    viewer.close()
    two = _peer_steps(steps, data, kwargs, sizes, app)
    one = _peer_steps(steps, data[:1], kwargs, [None], app)
    ms = np.array(times) * 1000
    return {
        "step_started_median_ms": float(np.median(np.array(started) * 1000)),
        "step_median_ms": float(np.median(ms)),
        "step_p95_ms": float(np.percentile(ms, 95)),
        "peer2_median_ms": float(np.median(np.array(two) * 1000)),
        "peer2_p95_ms": float(np.percentile(np.array(two) * 1000, 95)),
        "peer_median_ms": float(np.median(np.array(one) * 1000)),
        "canvas_sizes": sizes,
    }


def bench_edit_and_undo(edits: int, readings_dir: Path) -> dict[str, float]:
    """Edit -> response and undo (ms), 8 targets x 6 time points, comparison pane on."""
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    viewer, widget, app = _reading_widget(readings_dir)
    s = widget.session
    label = s.current_tp
    layer = s.layers_of(label).lines
    viewer.layers.selection.active = layer
    layer.mode = "direct"
    canvas = widget.main_canvas()

    def mouse(kind: str, pos: np.ndarray, dragging: bool = False):
        return read_only_mouse_event(
            kind, is_dragging=dragging, position=tuple(pos), dims_displayed=[1, 2]
        )

    times, inner, undos = [], [], []
    for k in range(edits):
        layer.selected_data = {0}
        start = np.asarray(layer.data[0][1], float)
        end = start + np.array([0.0, 0.0, 2.0 if k % 2 == 0 else -2.0])
        wstart = np.asarray(layer.data_to_world(start))
        wend = np.asarray(layer.data_to_world(end))
        s.nav.set_z(s.panes["current"], float(wstart[0]))
        mouse_press_callbacks(layer, mouse("mouse_press", wstart))
        for f in (0.5, 1.0):
            mouse_move_callbacks(layer, mouse("mouse_move", wstart + f * (wend - wstart), True))
        t0 = time.perf_counter()
        mouse_release_callbacks(layer, mouse("mouse_release", wend))
        times.append(time.perf_counter() - t0)
        inner.append(s.last_update_s)
        assert np.allclose(layer.data[0][1], end, atol=1e-3), "the drag did not move the vertex"
        app.processEvents()
        s.flush()
        before = s.reading.to_json()
        t0 = time.perf_counter()
        QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        undos.append(time.perf_counter() - t0)
        assert s.reading.to_json() != before, "Ctrl+Z did not undo"
        app.processEvents()
        s.flush()
        QTest.keyClick(
            canvas,
            Qt.Key.Key_Z,
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
        )
        app.processEvents()
        s.flush()
    viewer.close()
    ms, ums = np.array(times) * 1000, np.array(undos) * 1000
    return {
        "edit_median_ms": float(np.median(ms)),
        "edit_p95_ms": float(np.percentile(ms, 95)),
        "session_median_ms": float(np.median(np.array(inner) * 1000)),
        "undo_median_ms": float(np.median(ums)),
        "undo_p95_ms": float(np.percentile(ums, 95)),
    }


def bench_parts(readings_dir: Path) -> dict[str, float]:
    """Where an update goes (median ms), core only, no Qt: one edit as an operation
    (capture, difference, undo step), undo, the engine, the recovery file, an audit line."""
    from recist_tool.reading import (
        AuditTrail,
        Line,
        Reading,
        SeriesGeometry,
        SeriesInfo,
        evaluate_reading,
        write_recovery,
    )

    r = Reading(patient_id="BENCH")
    for t in range(6):
        uid = f"1.2.{t}"
        geo = SeriesGeometry(uid, (-96.0, -96.0, -100.0), (5.0, 1.5, 1.5))
        r.add_series(SeriesInfo(uid, study_date=f"2024-{t + 1:02d}-15", geometry=geo))
    r.assign_by_date()
    for i in range(8):
        lid = r.add_lesion("target", f"organ{i // 2}").lesion_id
        for j, tp in enumerate(r.timepoints):
            geo = r.series_of(tp.label)[0].geometry
            r.set_line(lid, tp.label, "long", Line.from_indices(geo, (5, 20, 20), (5, 20, 60 - j)))
    geo = r.series_of(r.timepoints[-1].label)[0].geometry
    label = r.timepoints[-1].label
    trail = AuditTrail(readings_dir / "parts.audit.jsonl", reader="bench")
    k = [0]

    def edit() -> None:
        k[0] += 1
        r.set_line("T1", label, "long", Line.from_indices(geo, (5, 20, 20), (5, 20, 40 + k[0] % 7)))

    def undo_redo() -> None:
        r.undo()
        r.redo()

    out = {}
    for name, fn in (
        ("operation_ms", edit),
        ("undo+redo_ms", undo_redo),
        ("evaluate_ms", lambda: evaluate_reading(r)),
        ("recovery_file_ms", lambda: write_recovery(r.snapshot(), readings_dir / "parts.csv")),
        ("audit_line_ms", lambda: trail.note("bench")),
    ):
        fn()
        ts = []
        for _ in range(15):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        out[name] = statistics.median(ts) * 1000
    return out


def main() -> None:
    """Run the benchmarks and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="opens of the 300-slice series")
    ap.add_argument("--edits", type=int, default=20, help="line edits (and undos) timed")
    ap.add_argument("--steps", type=int, default=30, help="slice steps timed")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        edit = bench_edit_and_undo(args.edits, Path(tmp))
        steps = bench_steps(args.steps, Path(tmp) / "steps")
        parts = bench_parts(Path(tmp))
    opened = bench_open(args.repeat)
    o = opened
    print(
        f"open 512x512x300 ({args.repeat} runs, medians, best in brackets, CPU after /): "
        f"core loader {o['core_s']:.3f} s ({o['core_min_s']:.3f}) / {o['core_cpu_s']:.3f}; "
        f"widget Open study until drawn, warmed at docking {o['widget_s']:.3f} s "
        f"({o['widget_min_s']:.3f}) / {o['widget_cpu_s']:.3f} = "
        f"{o['widget_s'] / o['core_s']:.2f} x the loader (bests "
        f"{o['widget_min_s'] / o['core_min_s']:.2f}, median of per-run ratios "
        f"{o['ratio_per_run']:.2f}, "
        f"CPU {o['widget_cpu_s'] / o['core_cpu_s']:.2f}; "
        f"goal <= 1.5); the series wholly in memory (read in the background) at "
        f"{o['widget_read_s']:.3f} s, the panels showing the study at "
        f"{o['widget_panels_s']:.3f} s; "
        f"cold (warm_up=0) {o['cold_s']:.3f} s ({o['cold_min_s']:.3f}) / "
        f"{o['cold_cpu_s']:.3f} = {o['cold_s'] / o['core_s']:.2f} x; viewer.open with the "
        f"widget docked {o['napari_open_s']:.3f} s ({o['napari_open_s'] / o['core_s']:.2f} x); "
        f"from disk (files evicted from the page cache before each): core loader "
        f"{o['core_disk_s']:.3f} s ({o['core_disk_min_s']:.3f}), widget Open study until "
        f"drawn {o['widget_disk_s']:.3f} s ({o['widget_disk_min_s']:.3f}) = "
        f"{o['widget_disk_s'] / o['core_disk_s']:.2f} x, wholly in memory at "
        f"{o['widget_disk_read_s']:.3f} s"
    )
    (w1, h1), (w2, h2) = steps["canvas_sizes"]
    ratio = steps["step_median_ms"] / steps["peer2_median_ms"]
    print(
        f"slice step with annotations (8 targets x 6 time points, two panes, canvases "
        f"{w1}x{h1} and {w2}x{h2} px), until both draws finished: median "
        f"{steps['step_median_ms']:.1f} ms, p95 {steps['step_p95_ms']:.1f} ms (goal < 50 ms); "
        f"until both draws started {steps['step_started_median_ms']:.1f} ms; floor: plain "
        f"napari, two canvases of those sizes, one image each, same key press, both draws "
        f"finished: median {steps['peer2_median_ms']:.1f} ms (p95 "
        f"{steps['peer2_p95_ms']:.1f}) -> ours {ratio:.2f} x; "
        f"plain napari, one canvas (full window): {steps['peer_median_ms']:.1f} ms"
    )
    print(
        f"edit -> response: median {edit['edit_median_ms']:.1f} ms, p95 "
        f"{edit['edit_p95_ms']:.1f} ms (goal < 50 ms); session commit..refresh median "
        f"{edit['session_median_ms']:.1f} ms"
    )
    print(
        f"undo (Ctrl+Z) -> response: median {edit['undo_median_ms']:.1f} ms, p95 "
        f"{edit['undo_p95_ms']:.1f} ms (goal < 50 ms)"
    )
    print("parts (median ms): " + ", ".join(f"{k[:-3]} {v:.1f}" for k, v in parts.items()))
    print(
        f"(machine: {os.cpu_count()} cores, load average {load0:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at the end)"
    )


if __name__ == "__main__":
    main()
