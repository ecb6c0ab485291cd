"""Figures rendered in worker processes are the figures rendered in this process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recist_tool.survival.plots import FigureRenderer


def _specs():
    rng = np.random.default_rng(0)
    n = 80
    km = {
        "time": pd.Series(rng.exponential(10, n)),
        "event": pd.Series(rng.integers(0, 2, n)),
        "groups": pd.Series(np.where(rng.random(n) < 0.5, "a", "b")),
        "order": ("a", "b"),
        "title": "OS by x",
        "xlabel": "Months",
        "origin_note": "Time origin: treatment.",
        "logrank_p": 0.03,
        "medians": {"a": (8.0, 5.0, 12.0), "b": (11.0, 7.5, np.inf)},
    }
    cox = pd.DataFrame(
        {
            "covariate": ["x: a vs b", "y"],
            "analysis": ["naive", "naive"],
            "hr": [0.7, 1.2],
            "ci_low": [0.5, 0.9],
            "ci_high": [0.95, 1.6],
            "p": [0.03, 0.2],
        }
    )
    return [("km_a", "km", km), ("forest", "forest", {"cox": cox, "title": "HRs"})]


def test_worker_processes_render_the_same_png_bytes():
    out = {}
    for processes in (0, 2):
        with FigureRenderer(("png",), processes=processes) as r:
            for name, kind, kw in _specs():
                r.submit(name, kind, **kw)
            out[processes] = r.results()
    assert list(out[2]) == ["km_a", "forest"]
    assert out[0] == out[2]
    assert out[2]["km_a"]["png"].startswith(b"\x89PNG")


def test_png_has_matplotlibs_pixels_and_metadata():
    """Our PNG writer (no filter search, zlib-ng) against ``savefig(format="png")``."""
    import io

    from PIL import Image

    from recist_tool.survival.plots import DPI, km_figure, png_bytes

    kw = _specs()[0][2]
    fig = km_figure(**kw)
    ours = png_bytes(fig, DPI)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    mine, ref = Image.open(io.BytesIO(ours)), Image.open(io.BytesIO(buf.getvalue()))
    assert mine.mode == ref.mode == "RGBA"
    assert mine.size == ref.size == (2040, ref.size[1])  # 6.8 in at 300 dpi
    assert np.array_equal(np.asarray(mine), np.asarray(ref))
    assert mine.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert mine.info["Software"] == ref.info["Software"]
    assert len(ours) < 1.2 * len(buf.getvalue())  # about as small (10 % smaller in the demo)
