"""A full baseline + follow-up reading of the sample study, driven by real input events.

Run under a virtual display::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/walkthrough.py

It opens napari with the "RECIST measurement" widget, opens ``sample_dicom/`` with
the widget's Sample button, and reads it as a radiologist would, with real Qt mouse,
wheel and key events on napari's canvas (``QTest``): lesions added with the form,
long/short axes drawn by mouse drags at the sample's true lesion axes, a non-target
marked by a click, wheel paging, a right-drag window/level, Ctrl+Z / Ctrl+Shift+Z,
then the follow-up beside the baseline in the comparison pane (its own canvas).
It saves a screenshot after each step into ``--shots`` and the README screenshot
(``docs/images/widget.png``) with ``--readme``. The reading is autosaved to a
temporary folder, not into the source tree. It exits non-zero when a step does not
give the expected result (so it is a check as well as a demonstration).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from napari_recist._testing import (
    in_sight,
    pump,
    real_click,
    real_drag,
    real_wheel,
    to_canvas,
    world,
)

ROOT = Path(__file__).resolve().parents[1]


class Walk:
    """The walkthrough's state: the window, the widget and the screenshots taken."""

    def __init__(self, shots: Path | None, size: tuple[int, int]) -> None:
        import napari
        from napari_recist._qt.widget import RecistWidget

        self.shots = shots
        self.taken: list[Path] = []
        self.failures: list[str] = []
        self.viewer = napari.Viewer(title="recist-tool: RECIST measurement")
        self.viewer.window.resize(*size)
        self.w = RecistWidget(self.viewer)
        self.viewer.window.add_dock_widget(self.w, name="RECIST measurement", area="right")
        pump(300)

    @property
    def s(self):
        return self.w.session

    def canvas(self):
        return self.w.main_canvas()

    def check(self, ok: bool, what: str) -> None:
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.failures.append(what)

    def shot(self, name: str) -> None:
        pump(250)
        if self.shots is None:
            return
        self.shots.mkdir(parents=True, exist_ok=True)
        out = self.shots / f"{len(self.taken) + 1:02d}_{name}.png"
        self.save(out)
        self.taken.append(out)

    def save(self, out: Path) -> None:
        """The whole napari window (docks and both canvases) as the screen shows it."""
        from qtpy.QtWidgets import QApplication

        win = self.w.window()
        screen = QApplication.primaryScreen()
        pix = screen.grabWindow(0, win.x(), win.y(), win.frameGeometry().width(), win.height())
        if pix.isNull() or pix.width() < 50:
            pix = win.grab()
        out.parent.mkdir(parents=True, exist_ok=True)
        pix.save(str(out))
        print(f"saved {out}")

    def choose(self, combo, text: str) -> None:
        i = combo.findText(text)
        combo.setCurrentIndex(i)
        combo.activated.emit(i)
        pump(60)

    def go_to(self, z: float) -> None:
        """Page to patient z with real wheel notches on the canvas."""
        pane = self.s.panes["current"]
        for _ in range(400):
            dz = z - self.s.nav.z(pane)
            if abs(dz) < 1e-3:
                return
            before = self.s.nav.z(pane)
            real_wheel(self.canvas(), -1 if dz > 0 else 1)
            if self.s.nav.z(pane) == before:
                break
        if abs(z - self.s.nav.z(pane)) > 1e-3:
            print(f"note: the wheel stopped at z={self.s.nav.z(pane)}, wanted {z}")
            self.s.nav.set_z(pane, z)  # fall back when the wheel cannot reach it
            pump(30)

    def measure(self, les: dict, axis: str) -> None:
        from qtpy.QtCore import Qt
        from qtpy.QtTest import QTest

        btn = self.w.long_btn if axis == "long" else self.w.short_btn
        QTest.mouseClick(btn, Qt.MouseButton.LeftButton)
        a, b = (world(p) for p in les[f"{axis}_axis_endpoints_lps"])
        self.go_to(a[0])
        real_drag(self.canvas(), self.viewer, a, b, steps=8)


def run(args: argparse.Namespace) -> int:
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    shots = Path(args.shots) if args.shots else None
    width, height = (int(v) for v in args.size.split("x"))
    walk = Walk(shots, (width, height))
    w, s = walk.w, walk.s
    QTest.mouseClick(w.sample_btn, Qt.MouseButton.LeftButton)
    pump(800)
    from napari_recist._sample_data import sample_study_path

    truth = json.loads((sample_study_path() / "truth.json").read_text())
    walk.check(s.current_tp == "baseline", "the study opens on baseline (nothing measured)")
    walk.shot("opened")

    # Baseline: add each lesion with the form, draw with the mouse.
    ids: dict[str, str] = {}
    tps = truth["timepoints"]
    for les in tps[0]["lesions"]:
        w.kind_combo.setCurrentIndex(w.kind_combo.findData(les["kind"]))
        w.organ_combo.setCurrentText(les["organ"])
        w.nodal_box.setChecked(les["nodal"])
        QTest.mouseClick(w.add_btn, Qt.MouseButton.LeftButton)
        pump(40)
        ids[les["lesion_id"]] = s.active_lesion
        if les["kind"] == "target":
            walk.measure(les, "long")
            if les["nodal"]:
                walk.measure(les, "short")
        else:
            QTest.mouseClick(w.point_btn, Qt.MouseButton.LeftButton)
            c = world(les["center_lps"])
            walk.go_to(c[0])
            real_click(walk.canvas(), walk.viewer, c)
        if les["lesion_id"] == "L1":
            walk.shot("baseline_L1_drawn")
    voxel = max(s.layers_of("baseline").image.scale[1:])
    for les in tps[0]["lesions"]:
        f = s.reading.lesion(ids[les["lesion_id"]]).findings.get("baseline")
        if les["kind"] == "target":
            ok = f is not None and abs(f.long_mm - les["long_axis_mm"]) <= 2 * voxel
            walk.check(ok, f"baseline {les['lesion_id']} long axis ≈ {les['long_axis_mm']} mm")
    walk.shot("baseline_read")

    # Window/level by right-drag; Ctrl+Z / Ctrl+Shift+Z on the canvas.
    cur = s.panes["current"]
    c = np.asarray(walk.viewer.scene.camera.center)
    before = s.nav.window
    real_drag(
        walk.canvas(),
        walk.viewer,
        c,
        c + np.array([0, 30.0, 60.0]),
        button=Qt.MouseButton.RightButton,
    )
    walk.check(s.nav.window != before, f"right-drag changed the window: {before} -> {s.nav.window}")
    n_before = sum(len(le.findings) for le in s.reading.lesions)
    QTest.keyClick(walk.canvas(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    pump(60)
    n_undone = sum(len(le.findings) for le in s.reading.lesions)
    QTest.keyClick(
        walk.canvas(),
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    pump(60)
    n_redone = sum(len(le.findings) for le in s.reading.lesions)
    walk.check(n_redone == n_before, f"Ctrl+Z / Ctrl+Shift+Z: {n_before} → {n_undone} → {n_redone}")
    QTest.keyClick(walk.canvas(), Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)  # lung preset
    pump(60)
    QTest.keyClick(walk.canvas(), Qt.Key.Key_1, Qt.KeyboardModifier.AltModifier)  # soft tissue
    pump(60)
    walk.check(
        tuple(s.layers_of("baseline").image.contrast_limits) == (-160.0, 240.0),
        "Alt+1 soft-tissue preset",
    )

    # Follow-up beside baseline: the comparison pane has its own canvas.
    QTest.mouseClick(w.compare_box, Qt.MouseButton.LeftButton)
    pump(600)
    fu = [tp.label for tp in s.reading.timepoints][1]
    walk.choose(w.tp_combo, fu)
    pump(400)
    walk.check(s.current_tp == fu and s.compare_tp == "baseline", f"{fu} beside baseline")
    walk.check(
        tuple(s.layers_of(fu).image.contrast_limits) == (-160.0, 240.0),
        "the window preset is kept at the follow-up",
    )
    walk.shot("followup_comparison_opened")
    cmp_ = s.panes["comparison"]
    for les in tps[1]["lesions"]:
        table = w.lesion_table
        rows = [table.item(r, 0).text() for r in range(table.rowCount())]
        cell = table.visualItemRect(table.item(rows.index(ids[les["lesion_id"]]), 0))
        QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell.center())
        pump(40)
        walk.check(s.active_lesion == ids[les["lesion_id"]], f"{fu}: row {cell.y()} clicked")
        if les["kind"] == "target":
            walk.measure(les, "long")
            if les["nodal"]:
                walk.measure(les, "short")
            walk.check(
                abs(s.nav.z(cmp_) - s.nav.z(cur)) < 2.6,
                f"comparison follows by z mm ({s.nav.z(cur):.1f} / {s.nav.z(cmp_):.1f})",
            )
            walk.check(
                not s.assist.can_enter() and "measured at" in s.assist.status,
                f"{fu} {ids[les['lesion_id']]} drawn by hand: no proposal offered any more "
                f"({s.assist.status!r})",
            )
        else:
            a = s.assist
            walk.check(
                "set its status" in a.status and not a.can_enter(),
                f"{fu} {ids[les['lesion_id']]}: its status asked for, no axes offered "
                f"({a.status!r})",
            )
            walk.check(
                in_sight(w.assist_panel) and in_sight(w.status_btns["present"]),
                "the status line and the status buttons are in sight without scrolling",
            )
            walk.shot(f"followup_{les['lesion_id']}_selected")
            QTest.mouseClick(w.status_btns["present"], Qt.MouseButton.LeftButton)
            pump(40)
        if les["lesion_id"] == "L1":
            walk.shot("followup_L1_drawn")
    for les in tps[1]["lesions"]:
        if les["kind"] == "target":
            f = s.reading.lesion(ids[les["lesion_id"]]).findings.get(fu)
            ok = f is not None and abs(f.long_mm - les["long_axis_mm"]) <= 2 * voxel
            walk.check(ok, f"{fu} {les['lesion_id']} long axis ≈ {les['long_axis_mm']} mm")
    base = s.reading.lesion(ids["L1"]).findings["baseline"].long_mm
    walk.check(
        abs(base - tps[0]["lesions"][0]["long_axis_mm"]) <= 2 * voxel,
        "baseline unchanged by the follow-up drawing",
    )
    rows = s.results.timepoint_rows()
    text = w.response_label.text()
    walk.check(
        rows[1]["overall_response"] in text and "Why:" in text,
        f"response and why shown: {rows[1]['overall_response']}",
    )
    # Hover for the cursor read-out (HU, LPS mm), then the final views.
    l1 = next(x for x in tps[1]["lesions"] if x["lesion_id"] == "L1")
    walk.go_to(world(l1["long_axis_endpoints_lps"][0])[0])
    table = w.lesion_table
    rows = [table.item(r, 0).text() for r in range(table.rowCount())]
    cell = table.visualItemRect(table.item(rows.index(ids["L1"]), 0))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell.center())
    pump(100)
    walk.check(
        s.assist.status.startswith(f"{ids['L1']}: measured at {fu}")
        and w.live_label.text() == "Length: –",
        f"{ids['L1']} selected: the status and the length are its own "
        f"({s.assist.status!r}, {w.live_label.text()!r})",
    )
    QTest.mouseMove(walk.canvas(), to_canvas(walk.viewer, world(l1["long_axis_endpoints_lps"][0])))
    pump(300)
    walk.check(cur.cursor_text.text.startswith("HU "), f"cursor read-out: {cur.cursor_text.text!r}")
    walk.shot("followup_read")
    if args.readme:
        walk.save(Path(args.readme))
    s.flush()
    walk.check(s.save_path is not None and s.save_path.exists(), f"autosaved {s.save_path}")
    print(f"screenshots: {[str(p) for p in walk.taken]}")
    walk.viewer.close()
    pump(100)
    if walk.failures:
        print(f"{len(walk.failures)} step(s) failed", file=sys.stderr)
        return 1
    return 0


def main() -> None:
    """Parse the options and run the walkthrough."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shots", default="", help="folder for the step screenshots")
    ap.add_argument(
        "--readme", default="", help="also save the README screenshot here (docs/images/widget.png)"
    )
    ap.add_argument("--size", default="1600x1000", help="window size, WIDTHxHEIGHT")
    args = ap.parse_args()
    os.environ.setdefault("RECIST_READINGS_DIR", tempfile.mkdtemp(prefix="recist-walk-"))
    os.environ.setdefault("RECIST_READER", "walkthrough")
    raise SystemExit(run(args))


if __name__ == "__main__":
    main()
