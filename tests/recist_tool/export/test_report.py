"""Cohort and patient reports render: HTML parses, PDF converts to PNG pages."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import lxml.html
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import beta

from recist_tool.export.report import (
    build_cohort_report,
    rate,
    response_counts,
    write_cohort_report,
)

SAMPLE = Path(__file__).resolve().parents[3] / "sample_dicom"


def pdf_pages(pdf: Path, outdir: Path) -> list[Path]:
    """PNG pages of a PDF (poppler's pdftoppm; the test fails without it)."""
    exe = shutil.which("pdftoppm")
    assert exe, "pdftoppm (Debian package poppler-utils) is required"
    subprocess.run([exe, "-r", "40", "-png", str(pdf), str(outdir / "page")], check=True)
    return sorted(outdir.glob("page*.png"))


def pdf_text(pdf: Path) -> str:
    exe = shutil.which("pdftotext")
    assert exe, "pdftotext (Debian package poppler-utils) is required"
    return subprocess.run([exe, str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def test_clopper_pearson_matches_beta_quantiles():
    for k, n in ((0, 6), (2, 6), (6, 6), (13, 40)):
        r = rate("x", k, n)
        low = 0.0 if k == 0 else beta.ppf(0.025, k, n - k + 1)
        high = 1.0 if k == n else beta.ppf(0.975, k + 1, n - k)
        assert (r.low, r.high) == pytest.approx((low, high), abs=1e-9)


def test_cohort_report_html_and_pdf(results, tmp_path):
    rep = build_cohort_report(results.without_identifiers())
    counts = response_counts(results.patients).set_index("best_overall_response")["patients"]
    assert counts.to_dict() == {"CR": 1, "PR": 1, "SD": 1, "NON-CR/NON-PD": 0, "PD": 3, "NE": 0}
    orr, dcr = rep.rates
    assert (orr.k, orr.n, dcr.k, dcr.n) == (2, 6, 3, 6)
    html_path, pdf_path = write_cohort_report(rep, tmp_path)
    doc = lxml.html.fromstring(html_path.read_text(encoding="utf-8"))
    imgs = doc.xpath("//img")
    assert len(imgs) == 3
    for img in imgs:  # self-contained: every figure embedded, as vector SVG
        src = img.get("src")
        assert src.startswith("data:image/svg+xml;base64,")
        assert b"<svg" in base64.b64decode(src.split(",", 1)[1])
    assert not doc.xpath("//link[@href] | //script[@src]")
    text = doc.text_content()
    assert orr.text() in text and "2/6 = 33.3 %" in text
    assert "RECIST 1.1" in text and "sd_min_days" in text  # settings and version shown
    pages = pdf_pages(pdf_path, tmp_path)
    assert len(pages) == 5  # summary (2 pages: settings and conventions) + 3 figures
    images = subprocess.run(
        [shutil.which("pdfimages") or "pdfimages", "-list", str(pdf_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(images) == 2  # header lines only: the figures are vector, not pictures
    with Image.open(pages[0]) as im:
        assert im.size[0] > im.size[1] * 0.6
    ptext = pdf_text(pdf_path)
    assert "Objective response rate" in ptext and "2/6 = 33.3 %" in ptext


def test_cohort_report_embeds_survival_outputs(tmp_path):
    """Survival tables and Kaplan–Meier figures computed by the survival command."""
    from recist_tool.export.tables import load_results
    from recist_tool.response import evaluate
    from recist_tool.survival import SurvivalSettings, run_survival
    from recist_tool.synth.cohort import CohortParams, generate_cohort

    cohort = generate_cohort(CohortParams(n=40), seed=1)
    evaluate(cohort.annotations).write(tmp_path / "batch")
    cohort.clinical.to_csv(tmp_path / "clinical.csv", index=False)
    settings = SurvivalSettings(
        endpoints=("os",), predictors=["imaging_response"], formats=("pdf", "svg"), bootstrap=100
    )
    run_survival(
        tmp_path / "clinical.csv",
        tmp_path / "batch" / "patients.csv",
        None,
        tmp_path / "survival",
        settings,
    )
    results = load_results(tmp_path / "batch")
    rep = build_cohort_report(results, survival=tmp_path / "survival")
    html_path, pdf_path = write_cohort_report(rep, tmp_path / "report")
    doc = lxml.html.fromstring(html_path.read_text(encoding="utf-8"))
    headings = [h.text_content() for h in doc.xpath("//h3")]
    assert headings[-5:] == [
        "The founding study side by side (overall survival)",
        "Median survival (Kaplan–Meier, 95 % CI)",
        "Log-rank tests",
        "Cox models (hazard ratio, 95 % CI)",
        "Proportional-hazards test (scaled Schoenfeld residuals)",
    ]
    text = doc.text_content()
    # tables in words, not column names
    assert "Imaging response at the first follow-up CT" in text and "Overall survival" in text
    assert "median_months" not in text and "imaging_response" not in text
    assert "+32 months, p < 0.001" in text  # the published figure beside ours
    km_imgs = [i for i in doc.xpath("//img") if i.get("alt").startswith("km_os")]
    assert len(km_imgs) == 2  # naive and landmark
    ptext = pdf_text(pdf_path)
    assert "The founding study side by side" in ptext and "Number at risk" in ptext
    pages = pdf_pages(pdf_path, tmp_path)
    with Image.open(pages[-1]) as im:
        assert im.size[1] > im.size[0]  # A4 portrait throughout


def test_patient_report_with_key_images(sample_reading, tmp_path):
    from recist_tool.export.patient_report import build_patient_report, write_patient_report
    from recist_tool.export.sr import ImageIndex

    rep = build_patient_report(sample_reading, ImageIndex([SAMPLE]))
    assert rep.summary["best response"].tolist() == ["PR"]
    assert rep.timepoints["overall"].tolist() == ["", "PR"]
    assert rep.timepoints["SOD (mm)"].tolist() == [86.0, 53.0]
    row = rep.lesions.set_index("lesion_id").loc["N1"]
    assert (row["baseline"], row["followup"]) == ("20", "12")  # node: short axis
    assert len(rep.images) == 8  # 3 measured targets + 1 marked non-target, × 2 time points
    with Image.open(__import__("io").BytesIO(rep.images[0].png)) as im:
        rgb = im.convert("RGB")
        # the long axis is drawn in yellow on the grey CT
        px = np.asarray(rgb).reshape(-1, 3).astype(int)
        assert ((px[:, 0] > 200) & (px[:, 1] > 180) & (px[:, 2] < 80)).any()
    html_path, pdf_path = write_patient_report(rep, tmp_path)
    doc = lxml.html.fromstring(html_path.read_text(encoding="utf-8"))
    assert len(doc.xpath("//img")) == 8
    text = doc.text_content()
    assert "RECIST-SAMPLE-001" in text and "SYNTHETIC" not in text and "1960" not in text
    assert len(pdf_pages(pdf_path, tmp_path)) == 3  # tables + 8 images at 6 a page


def test_the_lesion_table_adds_up_a_split_lesion():
    from recist_tool.export.patient_report import lesion_matrix

    rows = pd.DataFrame(
        {
            "lesion_id": ["T1", "T1", "T1", "N1"],
            "kind": ["target"] * 4,
            "organ": ["liver", "liver", "liver", "lymph_node"],
            "nodal": [False, False, False, True],
            "timepoint": ["baseline", "FU1", "FU1", "FU1"],
            "status": ["measured"] * 4,
            "long_axis_mm": [40.0, 20.0, 25.0, 14.0],
            "short_axis_mm": [20.0, 10.0, 9.0, 8.0],
            "fragment": ["", "a", "b", ""],
        }
    )
    m = lesion_matrix(rows, ["baseline", "FU1"]).set_index("lesion_id")
    assert (m.loc["T1", "baseline"], m.loc["T1", "FU1"]) == ("40", "45 (2 parts)")
    assert m.loc["N1", "FU1"] == "8"
