"""Benchmark of the worklist panel's *Next patient* (run under a display: ``xvfb-run -a``).

A cohort of two patients, each the shipped sample study (baseline + follow-up, 41
slices of 256 × 256 each) copied under its own patient ID. In a real napari window
with the widget and the worklist panel, a real Alt+→ key press on the canvas is timed
until the next patient's baseline is drawn on the canvas: the reading saved through
the Worklist API, the next patient's reading and series read (worker thread), the
panes rebuilt, the panel refreshed. Peer in the same run: the core part alone
(``Worklist.save_reading`` + ``next_patient`` + ``load_reading`` + ``series_to_open``
+ ``load_series`` of the proposed series), as ``bench_pacs.py`` times it.

Goal (issue 13): worklist switch to the next patient ≤ 1.5 s on the sample.

Usage::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/bench_worklist.py \\
        [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def make_cohort(tmp: Path) -> Path:
    """Two patients (the sample under IDs P1, P2) and their worklist."""
    from pydicom import dcmread

    from recist_tool.worklist import Worklist, from_folder

    sample = HERE.parent / "sample_dicom"
    src = tmp / "src"
    for pid in ("P1", "P2"):
        for tp in ("baseline", "followup"):
            for f in (sample / tp).glob("*.dcm"):
                ds = dcmread(f)
                ds.PatientID = pid
                ds.StudyInstanceUID = f"{ds.StudyInstanceUID}.{pid[1]}"
                ds.SeriesInstanceUID = f"{ds.SeriesInstanceUID}.{pid[1]}"
                (src / pid / tp).mkdir(parents=True, exist_ok=True)
                ds.save_as(src / pid / tp / f.name)
    root = tmp / "cohort"
    Worklist.create(root, from_folder(src), {"kind": "folder", "path": str(src)})
    return root


def bench_core(root: Path, rounds: int) -> list[float]:
    """The core part of a switch (no napari)."""
    from recist_tool.dicom import load_series
    from recist_tool.worklist import Worklist

    wl = Worklist.open(root)
    current = wl.load_reading("P1", "bench")
    out = []
    for _ in range(rounds + 1):
        t0 = time.perf_counter()
        wl.save_reading(current, "bench")
        nxt = wl.next_patient("bench", after=current.patient_id)
        reading = wl.load_reading(nxt.patient_id, "bench")
        for c in wl.series_to_open(nxt.patient_id):
            if c.proposed:
                load_series(c.info.folder, c.info.series_instance_uid)
        out.append(time.perf_counter() - t0)
        current = reading
    return out[1:]


def bench_gui(root: Path, rounds: int) -> list[float]:
    """Alt+→ on the canvas until the next patient's image is drawn."""
    import napari
    from napari_recist._qt.widget import RecistWidget
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    viewer.window.resize(1400, 900)
    w = RecistWidget(viewer)
    viewer.window.add_dock_widget(w, name="RECIST measurement", area="right")
    panel = w.show_worklist()
    assert panel.open_cohort(str(root))
    canvas = w.main_canvas()
    drawn: list[float] = []
    viewer.window._qt_viewer.canvas._scene_canvas.events.draw.connect(
        lambda e: drawn.append(time.perf_counter())
    )

    def pump_until(cond, timeout=20.0):
        end = time.perf_counter() + timeout
        while not cond():
            app.processEvents()
            if time.perf_counter() > end:
                raise TimeoutError("no switch")
            time.sleep(0.001)

    out = []
    for i in range(rounds + 1):
        want = "P1" if i % 2 == 0 else "P2"
        drawn.clear()
        t0 = time.perf_counter()
        QTest.keyClick(canvas, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
        pump_until(lambda want=want: not panel.busy and w.session.reading.patient_id == want)
        mark = time.perf_counter()
        pump_until(
            lambda mark=mark: any(t >= mark for t in drawn) or time.perf_counter() - mark > 0.5
        )
        drawn_at = next((t for t in drawn if t >= mark), mark)
        out.append(drawn_at - t0)
        if i == 0:  # a lesion on the first patient, so later saves write something
            w.session.add_lesion("non_target", "liver", False)
            w.session.set_status("present")
    viewer.close()
    return out[1:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    os.environ.setdefault("RECIST_READER", "bench")
    with tempfile.TemporaryDirectory(prefix="bench-worklist-") as tmp:
        os.environ["RECIST_READINGS_DIR"] = str(Path(tmp) / "readings")
        root = make_cohort(Path(tmp))
        gui = bench_gui(root, args.rounds)
        core = bench_core(root, args.rounds)
    mg, mc = statistics.median(gui), statistics.median(core)
    load = os.getloadavg()[0]
    print(
        f"worklist switch, sample study (2 × 41 slices 256²), {args.rounds} rounds, load {load:.1f}"
    )
    worst = max(gui)
    print(
        f"  GUI  Alt+→ to drawn: median {mg:.3f} s  max {worst:.3f} s "
        f"({', '.join(f'{t:.3f}' for t in gui)})"
    )
    print(f"  core part alone:     median {mc:.3f} s ({', '.join(f'{t:.3f}' for t in core)})")
    print(f"  GUI / core = {mg / mc:.1f} ×; goal ≤ 1.5 s: {'met' if mg <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
