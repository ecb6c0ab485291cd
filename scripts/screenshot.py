"""Make the README screenshot: napari with the sample study read through the widget.

Run under a virtual display::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshot.py

It opens ``sample_dicom/`` with the plugin's reader, measures the baseline and the
follow-up lesions through the "RECIST measurement" widget (the lines are placed at
the sample's true lesion axes, as a reader would draw them), shows baseline and
follow-up side by side, and saves the window to ``docs/images/widget.png``. The
reading is autosaved to a temporary folder, not into the source tree.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Build the scene and save the screenshot."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "images" / "widget.png"))
    ap.add_argument("--size", default="1600x1000", help="window size, WIDTHxHEIGHT")
    args = ap.parse_args()
    os.environ.setdefault("RECIST_READINGS_DIR", tempfile.mkdtemp(prefix="recist-shot-"))

    import napari
    from napari_recist._qt.widget import RecistWidget
    from napari_recist._sample_data import sample_study_path
    from qtpy.QtWidgets import QApplication

    sample = sample_study_path()
    truth = json.loads((sample / "truth.json").read_text())
    viewer = napari.Viewer(title="recist-tool: RECIST measurement")
    width, height = (int(v) for v in args.size.split("x"))
    viewer.window.resize(width, height)
    widget = RecistWidget(viewer)
    viewer.window.add_dock_widget(widget, name="RECIST measurement", area="right")
    widget.open_sample()
    s = widget.session
    labels = [tp.label for tp in s.reading.timepoints]
    ids: dict[str, str] = {}
    for i, label in enumerate(labels[:2]):
        s.show_timepoint(label)
        tpl = s.layers_of(label)
        for les in truth["timepoints"][i]["lesions"]:
            if i == 0:
                s.form = {"kind": les["kind"], "organ": les["organ"], "nodal": les["nodal"]}
                ids[les["lesion_id"]] = s.add_lesion()
            s.select_lesion(ids[les["lesion_id"]], jump=False)
            if les["kind"] != "target":
                s.arm("point", activate=False)
                tpl.points.add(tpl.geometry.lps_to_index(les["center_lps"]))
                continue
            axes = ["long", "short"] if les["nodal"] else ["long"]
            for axis in axes:
                s.arm(axis, activate=False)
                ends = les[f"{axis}_axis_endpoints_lps"]
                tpl.lines.add_lines(np.array([tpl.geometry.lps_to_index(p) for p in ends]))
    s.set_grid(True)
    s.select_lesion(ids["L1"])
    s.arm("long")
    viewer.scene.camera.zoom *= 1.6  # closer than "fit", as a reader works
    for _ in range(5):
        QApplication.processEvents()
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(out), canvas_only=False)
    s.flush()
    print(f"saved {out}")
    viewer.close()


if __name__ == "__main__":
    main()
