"""Response figures drawn from computed results: order, colours, thresholds, marks."""

from __future__ import annotations

import itertools

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from recist_tool.export import plots


def _hex(rgba) -> str:
    return mcolors.to_hex(rgba).upper()


def _thresholds(ax) -> dict[float, str]:
    out = {}
    for line in ax.get_lines():
        y = line.get_ydata()
        if len(y) == 2 and y[0] == y[1] and line.get_gid() and "threshold" in line.get_gid():
            out[float(y[0])] = line.get_linestyle()
    return out


def test_waterfall_order_colours_and_thresholds(results):
    fig = plots.waterfall(results.patients, results.timepoints)
    ax = fig.axes[0]
    bars = [p for p in ax.patches if p.get_gid()]
    heights = [b.get_height() for b in bars]
    assert heights == sorted(heights, reverse=True)
    order = [b.get_gid() for b in bars]
    expected = results.patients.sort_values("best_change_pct", ascending=False)["patient_id"]
    assert order == expected.tolist()
    colour = {b.get_gid(): _hex(b.get_facecolor()) for b in bars}
    # PD by a new lesion with a 25 % shrinking target: drawn as PD, not as a responder
    assert colour["HOSP-0002"] == plots.RESPONSE_COLOURS["PD"].upper()
    assert dict(zip(order, heights, strict=True))["HOSP-0002"] == pytest.approx(-25.0)
    assert colour["HOSP-0001"] == plots.RESPONSE_COLOURS["PR"].upper()
    assert colour["HOSP-0004"] == plots.RESPONSE_COLOURS["CR"].upper()
    assert colour["HOSP-0005"] == plots.RESPONSE_COLOURS["SD"].upper()
    assert _thresholds(ax) == {20.0: "--", -30.0: "--"}
    # new-lesion mark only on the patient with a new lesion
    marks = [t.get_gid() for t in ax.texts if t.get_gid() and t.get_gid().startswith("new:")]
    assert marks == ["new:HOSP-0002"]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["CR", "PR", "SD", "PD", "new lesion"]
    assert ax.get_ylabel() and ax.get_xlabel()


def test_spider_lines_and_marks(results):
    fig = plots.spider(results.timepoints, results.patients)
    ax = fig.axes[0]
    lines = {ln.get_gid(): ln for ln in ax.get_lines() if ln.get_gid()}
    p1 = lines["HOSP-0001"]
    assert list(p1.get_xdata()) == pytest.approx([0, 8, 16])  # weeks
    assert list(p1.get_ydata()) == pytest.approx([0, -42.9, -37.1])
    assert _hex(p1.get_color()) == plots.RESPONSE_COLOURS["PR"].upper()
    # PD marked where the engine says PD (growth, new lesion, non-target progression)
    pd_marked = {
        g.split(":")[1] for g, ln in lines.items() if g.startswith("pd:") and len(ln.get_xdata())
    }
    assert pd_marked == {"HOSP-0002", "HOSP-0003", "HOSP-0006"}
    new_marked = {
        g.split(":")[1] for g, ln in lines.items() if g.startswith("new:") and len(ln.get_xdata())
    }
    assert new_marked == {"HOSP-0002"}
    assert _thresholds(ax) == {20.0: "--", -30.0: "--"}


def test_swimmer_arrows_for_patients_in_follow_up(results):
    treatments = pd.DataFrame(
        {"patient_id": ["HOSP-0001", "HOSP-0001"], "date": ["2024-01-09", "2024-02-20"]}
    )
    fig = plots.swimmer(results.timepoints, results.patients, treatments=treatments)
    ax = fig.axes[0]
    bars = {p.get_gid(): p for p in ax.patches if p.get_gid()}
    assert bars["HOSP-0005"].get_width() == pytest.approx(126 / 7)
    arrows = {
        t.get_gid().split(":")[1] for t in ax.texts if (t.get_gid() or "").startswith("arrow:")
    }
    not_progressed = set(results.patients.loc[results.patients["pfs_event"] == 0, "patient_id"])
    assert arrows == not_progressed == {"HOSP-0001", "HOSP-0004", "HOSP-0005"}
    tr = next(ln for ln in ax.get_lines() if ln.get_gid() == "treatment")
    assert list(tr.get_xdata()) == pytest.approx([1 / 7, 43 / 7])
    first_pd = next(ln for ln in ax.get_lines() if ln.get_gid() == "first:PD")
    assert len(first_pd.get_xdata()) == 3


def test_saved_png_and_svg_are_readable(results, tmp_path):
    fig = plots.waterfall(results.patients, results.timepoints)
    paths = plots.save_figure(fig, tmp_path / "waterfall")
    png, pdf, svg = paths
    with Image.open(png) as im:
        w, h = im.size
        assert min(im.info["dpi"]) >= 299  # journal resolution
    assert w >= 1500 and h >= 1200  # ≥ 5 in wide at 300 dpi
    raw = pdf.read_bytes()
    assert raw.startswith(b"%PDF") and b"/Subtype /Image" not in raw  # vector
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text


def _big_cohort(n=150):
    """n patients with 2-6 assessments each, every category of response."""
    rng = np.random.default_rng(4)
    tps, pts = [], []
    for i in range(n):
        pid = f"PAT-{i:04d}"
        cat = ["CR", "PR", "SD", "PD"][i % 4]
        k = int(rng.integers(2, 7)) if cat != "PD" else 2
        for j in range(k):
            resp = "" if j == 0 else ("PD" if cat == "PD" or (j == k - 1 and i % 3 == 0) else cat)
            change = {"CR": -100, "PR": -45, "SD": 5, "PD": 40}[cat] if j else 0.0
            tps.append((pid, 56 * j, change + rng.normal(0, 3) * (j > 0), resp, "no"))
        pts.append((pid, "2024-01-01", cat, int(i % 3 == 0 or cat == "PD")))
    t = pd.DataFrame(tps, columns=["patient_id", "days_from_baseline",
                                   "change_from_baseline_pct", "overall_response",
                                   "new_lesions"])  # fmt: skip
    p = pd.DataFrame(pts, columns=["patient_id", "baseline_date", "best_overall_response",
                                   "pfs_event"])  # fmt: skip
    tr = pd.DataFrame({"patient_id": p["patient_id"], "date": "2024-01-02"})
    return t, p, tr


def test_swimmer_stays_readable_for_150_patients():
    t, p, tr = _big_cohort(150)
    fig = plots.swimmer(t, p, treatments=tr)
    axes = [ax for ax in fig.axes if ax.patches]
    assert len(axes) == 3  # panels side by side, at most ROWS_PER_PANEL rows each
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ends = []
    for ax in axes:
        boxes = [lbl.get_window_extent(renderer) for lbl in ax.get_yticklabels()]
        assert len(boxes) == len(ax.patches)
        for a, b in itertools.pairwise(boxes):
            assert a.y0 >= b.y1 - 0.5  # labels never overlap (top to bottom)
        # markers fit inside the bars: size (points) <= bar height (points)
        bar_h = ax.transData.transform([(0, 0.72)])[0][1] - ax.transData.transform([(0, 0)])[0][1]
        bar_pt = bar_h * 72 / fig.dpi
        for line in ax.get_lines():
            if line.get_xdata() is not None and len(line.get_xdata()):
                assert line.get_markersize() <= bar_pt + 0.01, line.get_gid()
        ends += [b.get_width() for b in ax.patches]
    assert ends == sorted(ends, reverse=True)  # longest first, continuing across panels


def test_spider_for_many_patients_has_one_panel_per_response():
    t, p, _ = _big_cohort(150)
    fig = plots.spider(t, p)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_lines()]
    assert titles == ["CR (n = 38)", "PR (n = 38)", "SD (n = 37)", "PD (n = 37)"]
