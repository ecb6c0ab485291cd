"""Figures rendered in worker processes are the figures rendered in this process."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
