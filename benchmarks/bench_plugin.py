"""Benchmark of the napari plugin (run under a display: ``xvfb-run -a``).

1. Opening a 512 × 512 × 300 CT series: time from
   ``viewer.open(folder, plugin="recist-tool")`` until the image layer has been drawn
   on the canvas, against the core loader alone (``recist_tool.dicom.load_series``)
   in the same run. Goal: within 1.5 × the loader.
2. The widget's update after one line edit with 8 targets × 6 time points: a vertex
   of one line is dragged (mouse press, moves, release), and the time from the
   release to the widget showing the new response is measured (commit, RECIST
   engine, autosave of CSV + sidecar, tables refreshed). Goal: under 50 ms.

Usage::

    xvfb-run -a .venv/bin/python benchmarks/bench_plugin.py [--repeat 5] [--edits 20]

The 300-slice series is synthesised once (``recist_tool.synth.phantom.write_series``)
into ``$RECIST_BENCH_DIR`` (default: the system temp folder).
"""

from __future__ import annotations

import argparse
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


def bench_open(repeat: int) -> dict[str, float]:
    """Seconds (median and best of ``repeat``): core loader alone, and viewer.open until
    the canvas has drawn the new layer. Both start with no volume held in memory."""
    import gc

    import napari
    from napari_recist._reader import read_dicom
    from napari_recist._session import PLUGIN
    from qtpy.QtWidgets import QApplication

    from recist_tool.dicom import load_series

    folder = series_folder()
    load_series(folder)  # warm the file cache and imports
    core, plugin = [], []
    viewer = napari.Viewer(show=True)
    canvas = viewer.window._qt_viewer.canvas  # benchmark only: wait for the real draw
    app = QApplication.instance()
    drawn: list[float] = []

    def on_draw(_event) -> None:
        if len(viewer.layers):  # a draw with the new layer, not of the empty canvas
            drawn.append(time.perf_counter())

    canvas._scene_canvas.events.draw.connect(on_draw)
    reader, napari_only = [], []
    for _ in range(repeat):
        viewer.layers.clear()
        gc.collect()
        app.processEvents()
        t0 = time.perf_counter()
        vol = load_series(folder)
        core.append(time.perf_counter() - t0)
        assert vol.array.shape == SHAPE
        del vol
        gc.collect()
        t0 = time.perf_counter()
        data, kwargs, _ = read_dicom(str(folder))[0]  # the plugin's reader alone
        reader.append(time.perf_counter() - t0)
        # napari's own cost of showing an array it is handed (no reading at all)
        drawn.clear()
        t0 = time.perf_counter()
        viewer.add_image(data, **kwargs)
        while not drawn:
            app.processEvents()
        napari_only.append(drawn[0] - t0)
        viewer.layers.clear()
        del data
        gc.collect()
        app.processEvents()
        drawn.clear()
        t0 = time.perf_counter()
        layers = viewer.open(folder, plugin=PLUGIN)
        while not drawn:
            app.processEvents()
        plugin.append(drawn[0] - t0)
        assert layers[0].data.shape == SHAPE
    viewer.close()
    return {
        "core_s": statistics.median(core),
        "plugin_s": statistics.median(plugin),
        "core_min_s": min(core),
        "plugin_min_s": min(plugin),
        "reader_s": statistics.median(reader),
        "napari_add_s": statistics.median(napari_only),
    }


def _volume(t: int):
    """A small in-memory series per time point (image size does not change the edit)."""
    from recist_tool.dicom import Volume

    return Volume(
        array=np.zeros((40, 128, 128), np.int16),
        spacing_zyx=(5.0, 1.5, 1.5),
        origin_lps=(-96.0, -96.0, -100.0),
        direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
        slice_thickness=5.0,
        sop_instance_uids=tuple(f"1.2.826.0.1.{t}.{k}" for k in range(40)),
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


def bench_edit(edits: int, readings_dir: Path) -> dict[str, float]:
    """Median and 95th percentile (ms) of the widget update after one line edit."""
    import napari
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )
    from napari_recist._layers import image_layer_data
    from napari_recist._qt.widget import RecistWidget
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    widget = RecistWidget(viewer, readings_dir=str(readings_dir))
    viewer.window.add_dock_widget(widget)
    for t in range(6):
        data, kwargs, _ = image_layer_data(_volume(t))
        viewer.add_image(data, **kwargs)
    s = widget.session
    labels = [tp.label for tp in s.reading.timepoints]
    assert len(labels) == 6
    organs = ["liver", "liver", "lung", "lung", "kidney", "spleen", "bone", "adrenal gland"]
    for i, organ in enumerate(organs):
        s.form = {"kind": "target", "organ": organ, "nodal": False}
        s.show_timepoint(labels[0])
        lid = s.add_lesion()
        for j, label in enumerate(labels):
            s.show_timepoint(label)
            s.select_lesion(lid, jump=False)
            s.arm("long", activate=False)
            z = 5 + 4 * i
            s.layers_of(label).lines.add_lines(
                np.array([[z, 20.0 + 10 * i, 20.0], [z, 20.0 + 10 * i, 60.0 - 3 * j]])
            )
    assert len(s.reading.to_measurements()) == 48
    label = labels[-1]
    layer = s.layers_of(label).lines
    s.show_timepoint(label)
    viewer.layers.selection.active = layer
    layer.mode = "direct"
    app = QApplication.instance()
    app.processEvents()

    def mouse(kind: str, pos: np.ndarray, dragging: bool = False):
        return read_only_mouse_event(
            kind, is_dragging=dragging, position=tuple(pos), dims_displayed=[1, 2]
        )

    times, inner = [], []
    for k in range(edits):
        layer.selected_data = {0}
        start = np.asarray(layer.data[0][1], float)
        end = start + np.array([0.0, 0.0, 1.0 if k % 2 == 0 else -1.0])
        wstart = np.asarray(layer.data_to_world(start))
        wend = np.asarray(layer.data_to_world(end))
        viewer.dims.set_point(0, float(wstart[0]))
        mouse_press_callbacks(layer, mouse("mouse_press", wstart))
        for f in (0.5, 1.0):
            mouse_move_callbacks(layer, mouse("mouse_move", wstart + f * (wend - wstart), True))
        t0 = time.perf_counter()
        mouse_release_callbacks(layer, mouse("mouse_release", wend))
        times.append(time.perf_counter() - t0)
        inner.append(s.last_update_s)
        assert np.allclose(layer.data[0][1], end, atol=1e-3), "the drag did not move the vertex"
        app.processEvents()
        s.flush()  # the background save of this edit ends before the next edit starts
    viewer.close()
    ms = np.array(times) * 1000
    return {
        "edit_median_ms": float(np.median(ms)),
        "edit_p95_ms": float(np.percentile(ms, 95)),
        "session_median_ms": float(np.median(np.array(inner) * 1000)),
    }  # fmt: skip


def bench_parts(readings_dir: Path) -> dict[str, float]:
    """Where an update goes (median ms): table, engine, save — core only, no Qt."""
    from recist_tool.reading import Line, Reading, SeriesGeometry, SeriesInfo, evaluate_reading

    r = Reading(patient_id="BENCH")
    for t in range(6):
        uid = f"1.2.{t}"
        geo = SeriesGeometry(uid, (-96.0, -96.0, -100.0), (5.0, 1.5, 1.5))
        r.add_series(SeriesInfo(uid, study_date=f"2024-{t + 1:02d}-15", geometry=geo))
        r.assign_series(uid, "baseline" if t == 0 else f"FU{t}")
    for i in range(8):
        lid = r.add_lesion("target", f"organ{i // 2}").lesion_id
        for j, tp in enumerate(r.timepoints):
            geo = r.series_of(tp.label)[0].geometry
            r.set_line(lid, tp.label, "long", Line.from_indices(geo, (5, 20, 20), (5, 20, 60 - j)))
    frame = r.to_frame()
    out = {}
    for name, fn in (
        ("to_frame_ms", r.to_frame),
        ("evaluate_ms", lambda: evaluate_reading(r)),
        ("save_ms", lambda: r.save(readings_dir / "parts.csv", frame)),
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
    """Run both benchmarks and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="opens of the 300-slice series")
    ap.add_argument("--edits", type=int, default=20, help="line edits timed")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        edit = bench_edit(args.edits, Path(tmp))
        parts = bench_parts(Path(tmp))
    opened = bench_open(args.repeat)
    ratio = opened["plugin_s"] / opened["core_s"]
    best = opened["plugin_min_s"] / opened["core_min_s"]
    print(
        f"open 512x512x300 ({args.repeat} runs): core loader median {opened['core_s']:.3f} s"
        f" (best {opened['core_min_s']:.3f}); viewer.open until drawn median "
        f"{opened['plugin_s']:.3f} s (best {opened['plugin_min_s']:.3f}); ratio of medians "
        f"{ratio:.2f}, of bests {best:.2f} (goal <= 1.5)"
    )
    print(
        f"  of which: the plugin's reader alone median {opened['reader_s']:.3f} s "
        f"({opened['reader_s'] / opened['core_s']:.2f} x the loader); napari showing an "
        f"array it is handed (add_image until drawn) median {opened['napari_add_s']:.3f} s"
    )
    print(
        f"line edit, 8 targets x 6 time points: median {edit['edit_median_ms']:.1f} ms, "
        f"p95 {edit['edit_p95_ms']:.1f} ms (goal < 50 ms); "
        f"session commit..refresh median {edit['session_median_ms']:.1f} ms"
    )
    print("parts (median ms): " + ", ".join(f"{k[:-3]} {v:.1f}" for k, v in parts.items()))
    print(f"(machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
