"""The whole analysis on the small hand-made study: tables, numbers, figures, atomicity."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from recist_tool.survival import SurvivalSettings, run_survival, summary_text
from recist_tool.survival.cox import DAYS_PER_MONTH
from recist_tool.survival.inputs import SurvivalInputError
from recist_tool.survival.pipeline import (
    COX_COLUMNS,
    KM_COLUMNS,
    LOGRANK_COLUMNS,
    PH_COLUMNS,
    SurvivalSettingsError,
)


def _run(small_study, outdir, **kw):
    settings = SurvivalSettings(**{"endpoints": ("os", "pfs"), **kw})
    return run_survival(
        small_study["clinical"],
        small_study["responses"],
        small_study["treatments"],
        outdir,
        settings,
    )


def test_tables_and_hand_checked_numbers(small_study, tmp_path):
    out = tmp_path / "out"
    res = _run(small_study, out, figures=False)
    km = pd.read_csv(out / "km.csv")
    assert list(km.columns) == KM_COLUMNS
    assert list(pd.read_csv(out / "logrank.csv").columns) == LOGRANK_COLUMNS
    assert list(pd.read_csv(out / "cox.csv").columns) == COX_COLUMNS
    assert list(pd.read_csv(out / "ph_test.csv").columns) == PH_COLUMNS
    allrow = km[(km.endpoint == "os") & (km.analysis == "naive") & (km.predictor == "all")].iloc[0]
    # Deaths on days 60, 200, 300, 400; censored 80, 500: S(300) = 5/6 * 3/4 * 2/3 < 0.5.
    assert (allrow.n, allrow.events) == (6, 4)
    assert allrow.median_months == pytest.approx(300 / DAYS_PER_MONTH)
    lm = km[(km.endpoint == "os") & (km.analysis == "landmark") & (km.predictor == "all")].iloc[0]
    assert (lm.n, lm.events) == (4, 3)  # P2 died, P5 censored before 3 months
    # From the landmark: deaths at 200, 300, 400 days; S = 3/4, then exactly 1/2 after
    # day 300, so the median is the midpoint of days 300 and 400 (R's rule).
    assert lm.median_months == pytest.approx((350 - 3 * DAYS_PER_MONTH) / DAYS_PER_MONTH)
    assert res.exclusions["os"] == {
        "landmark_months": 3.0,
        "excluded": 2,
        "event_before_landmark": 1,
        "censored_before_landmark": 1,
    }
    pfs = km[(km.endpoint == "pfs") & (km.analysis == "naive") & (km.predictor == "all")].iloc[0]
    # PFS: P4 day 84, P3 day 244, P6 day 335 progressed; P1 censored at its last scan (188).
    assert (pfs.n, pfs.events) == (4, 3)
    assert pfs.median_months == pytest.approx(244 / DAYS_PER_MONTH)
    img = km[
        (km.endpoint == "os") & (km.analysis == "naive") & (km.predictor == "imaging_response")
    ]
    assert img.set_index("group").n.to_dict() == {"response": 2, "stable": 1, "progression": 1}
    # The landmark groups are those known at the landmark (guarantee time): P3's
    # symptomatic response came on day 121, after the 3-month landmark, so from the
    # landmark P3 counts as "no" (naively: "yes").
    sym = km[(km.endpoint == "os") & (km.predictor == "symptomatic_response")]
    by = {a: g.set_index("group").n.to_dict() for a, g in sym.groupby("analysis")}
    assert by["naive"] == {"yes": 3, "no": 3}
    assert by["landmark"] == {"yes": 2, "no": 2}  # P1, P6 | P3, P4 (P2, P5 gone)
    cox = pd.read_csv(out / "cox.csv")
    assert set(cox.analysis) <= {"naive", "landmark", "time_varying"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exclusions"]["os"]["excluded"] == 2
    text = summary_text(res)
    assert "OS: n=6, events=4" in text and "3-month landmark: 2 patient(s) excluded" in text
    # an 80-column terminal (the output folder's path is the user's)
    assert max(len(line) for line in text.splitlines() if not line.startswith("wrote")) <= 80


def test_figures_png_pdf_and_svg(small_study, tmp_path):
    import io
    import re

    from PIL import Image

    # the default: PNG and SVG for every figure, no PDF
    res = _run(small_study, tmp_path / "default", predictors=["imaging_response"],
               endpoints=("os",), founding=False)  # fmt: skip
    default = {p.name for p in res.files}
    assert {"km_os_imaging_response_naive.png", "km_os_imaging_response_naive.svg"} <= default
    assert {"forest_os.png", "forest_os.svg"} <= default
    assert not [n for n in default if n.endswith(".pdf")]
    # PDF on request, with PNG and SVG
    out = tmp_path / "out"
    res = _run(small_study, out, predictors=["imaging_response"], endpoints=("os",),
               formats=("png", "svg", "pdf"))  # fmt: skip
    names = sorted(p.name for p in res.files)
    for a in ("naive", "landmark"):
        for fmt in ("png", "pdf", "svg"):
            assert f"km_os_imaging_response_{a}.{fmt}" in names
    assert {"forest_os.png", "forest_os.pdf", "forest_os.svg"} <= set(names)
    png = (out / "km_os_imaging_response_landmark.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    dpi = Image.open(io.BytesIO(png)).info["dpi"]
    assert min(dpi) >= 299  # journal resolution
    for name in ("km_os_imaging_response_landmark.pdf", "forest_os.pdf"):
        pdf = (out / name).read_bytes()
        assert pdf.startswith(b"%PDF") and b"/Subtype /Image" not in pdf  # vector, no raster
        # TrueType (Type 42) fonts embedded, no Type 3; each font one subset (regular,
        # bold): the en dash of "(lo–hi)" and no ligature add a subset of their own
        assert b"/Type3" not in pdf and b"/FontFile2" in pdf
        fonts = re.findall(rb"/Subtype /Type0 /BaseFont /[A-Z]{6}\+([\w-]+)", pdf)
        assert sorted(fonts) == [b"DejaVuSans", b"DejaVuSans-Bold"], fonts
    svg = (out / "km_os_imaging_response_landmark.svg").read_text()
    # words, not column names: titles, axis labels, the time origin and the landmark
    assert "Overall survival by imaging response" in svg
    assert "Months since the 3-month landmark" in svg and "excluded" in svg
    assert "Number at risk" in svg and "imaging_response" not in svg
    naive = (out / "km_os_imaging_response_naive.svg").read_text()
    assert "Months since first treatment" in naive and "log-rank p" in naive
    # one group: no log-rank p at all (never "p = n/a")
    from recist_tool.survival.plots import km_figure, render

    t = pd.Series([3.0, 5, 8, 13])
    one = km_figure(t, pd.Series([1, 0, 1, 1]), pd.Series(["yes"] * 4), ("yes", "no"),
                    title="Overall survival", xlabel="Months since first treatment",
                    origin_note="Naive analysis", logrank_p=float("nan"),
                    medians={"yes": (8.0, 3.0, float("nan"))}, ci=False)  # fmt: skip
    svg_one = render(one, "svg").decode()
    assert "log-rank" not in svg_one and "n/a" not in svg_one and "NR" in svg_one
    forest = (out / "forest_os.svg").read_text()
    assert "HR (95 % CI)" in forest and "Imaging response at the first follow-up CT" in forest


def test_grouping_option(small_study, tmp_path):
    res = _run(
        small_study,
        tmp_path / "o",
        figures=False,
        grouping="control",
        predictors=["imaging_response"],
    )
    groups = res.km[(res.km.predictor == "imaging_response")].group.unique().tolist()
    assert groups == ["response+stable", "progression"]


def test_bad_input_writes_nothing(small_study, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "km.csv").write_text("old\n")
    bad = small_study["clinical"]
    bad.write_text(bad.read_text().replace("2020-10-27", "2019-10-27"))
    with pytest.raises(SurvivalInputError, match="before time zero"):
        _run(small_study, out)
    assert (out / "km.csv").read_text() == "old\n"
    assert sorted(p.name for p in out.iterdir()) == ["km.csv"]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"endpoints": ("dfs",)}, "unknown endpoint dfs"),
        ({"landmark_months": -1.0}, "landmark-months must be a positive"),
        ({"rmst_horizon_months": 0.0}, "rmst-horizon must be a positive"),
    ],
)
def test_bad_settings(small_study, tmp_path, kw, match):
    with pytest.raises(SurvivalSettingsError, match=match):
        _run(small_study, tmp_path / "o", **kw)
    assert not (tmp_path / "o").exists()


def test_pfs_needs_responses(small_study, tmp_path):
    with pytest.raises(SurvivalSettingsError, match=r"PFS endpoint needs patients\.csv"):
        run_survival(
            small_study["clinical"],
            None,
            None,
            tmp_path / "o",
            SurvivalSettings(endpoints=("pfs",), figures=False),
        )


def test_typed_dataframes_are_accepted(tmp_path):
    """The engine's patients table (datetime and Int64 columns) can be passed directly."""
    from recist_tool.response import evaluate
    from recist_tool.synth.cohort import CohortParams, generate_cohort

    cohort = generate_cohort(CohortParams(n=60), seed=2)
    patients = evaluate(cohort.annotations).patients
    clinical = cohort.clinical.copy()
    clinical["treatment_date"] = pd.to_datetime(clinical["treatment_date"])
    res = run_survival(
        clinical,
        patients,
        cohort.treatments,
        tmp_path / "o",
        SurvivalSettings(endpoints=("os", "pfs"), figures=False),
    )
    km = res.km[(res.km.predictor == "imaging_response") & (res.km.analysis == "naive")]
    assert km[km.endpoint == "os"].n.sum() == round(60 * 125 / 211)
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["inputs"]["responses"] == (
        "<patients>"
    )
