"""Kappa, weighted kappa and ICC(2,1) against R (psych, vcd) to 1e-6, and SAS's example.

R and its packages come from Debian (r-base-core, r-cran-psych, r-cran-vcd; installed
by scripts/setup.sh). These tests FAIL when Rscript or a package is missing: the
reference is part of the test, never skipped.

References: ``psych::cohen.kappa`` for kappa, weighted kappa and the plain kappa's
interval; ``vcd::Kappa`` for the weighted kappa's interval (psych uses another variance
formula for it, see recist_tool/readers/stats.py); ``psych::ICC`` (``ICC2``: estimate,
lower and upper bound).
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from recist_tool.readers.agreement import CATEGORIES, ORDERED, compute_agreement
from recist_tool.readers.cohort import load_cohort
from recist_tool.readers.stats import cohen_kappa, icc_2_1

R_SCRIPT = r"""
suppressMessages({library(psych); library(vcd)})
args <- commandArgs(trailingOnly = TRUE)
cats <- strsplit(args[3], ",")[[1]]
ord <- strsplit(args[4], ",")[[1]]
out <- c()
put <- function(k, v) out <<- c(out, sprintf("%s,%.15g", k, v))
pairs <- read.csv(args[1], stringsAsFactors = FALSE)
for (m in unique(pairs$measure)) {
  d <- pairs[pairs$measure == m, ]
  t1 <- table(factor(d$a, levels = cats), factor(d$b, levels = cats))
  k <- cohen.kappa(unclass(t1))
  put(paste0(m, "_kappa"), k$kappa)
  put(paste0(m, "_kappa_low"), k$confid[1, 1]); put(paste0(m, "_kappa_high"), k$confid[1, 3])
  a <- ifelse(d$a == "NON-CR/NON-PD", "SD", d$a); b <- ifelse(d$b == "NON-CR/NON-PD", "SD", d$b)
  ok <- a %in% ord & b %in% ord
  t2 <- table(factor(a[ok], levels = ord), factor(b[ok], levels = ord))
  n <- length(ord)
  w <- 1 - abs(outer(1:n, 1:n, "-")) / (n - 1)
  kw <- cohen.kappa(unclass(t2), w = w)
  put(paste0(m, "_wkappa"), kw$weighted.kappa)
  vk <- Kappa(unclass(t2), weights = "Equal-Spacing")
  put(paste0(m, "_wkappa_vcd"), vk$Weighted["value"])
  ci <- confint(vk)
  put(paste0(m, "_wkappa_low"), ci["Weighted", 1])
  put(paste0(m, "_wkappa_high"), ci["Weighted", 2])
  put(paste0(m, "_kappa_vcd_low"), ci["Unweighted", 1])
}
cont <- read.csv(args[2])
for (m in unique(cont$measure)) {
  d <- cont[cont$measure == m, c("x", "y")]
  r <- ICC(d, lmer = FALSE)$results
  row <- r[r$type == "ICC2", ]
  put(paste0(m, "_icc"), row$ICC)
  put(paste0(m, "_icc_low"), row[["lower bound"]])
  put(paste0(m, "_icc_high"), row[["upper bound"]])
}
writeLines(out)
"""


def _run_r(tmp_path, pairs: pd.DataFrame, cont: pd.DataFrame) -> dict[str, float]:
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.fail(
            "Rscript is missing: run scripts/setup.sh (r-base-core, r-cran-psych, r-cran-vcd)"
        )
    (tmp_path / "x.R").write_text(R_SCRIPT)
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    cont.to_csv(tmp_path / "cont.csv", index=False)
    proc = subprocess.run(
        [rscript, "--vanilla", str(tmp_path / "x.R"), str(tmp_path / "pairs.csv"),
         str(tmp_path / "cont.csv"), ",".join(CATEGORIES), ",".join(ORDERED)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"R failed (missing r-cran-psych or r-cran-vcd?):\n{proc.stderr[-2000:]}")
    return {k: float(v) for k, v in (line.split(",", 1) for line in proc.stdout.split())}


def _ours(rows, measure, statistic):
    r = rows[(rows["measure"] == measure) & (rows["statistic"] == statistic)].iloc[0]
    return r


def test_synthetic_cohort_agreement_matches_r(double_read, tmp_path):
    folder, _ = double_read
    cohort = load_cohort(folder)
    res = compute_agreement(cohort, figures=False)
    pairs = res.pairs
    bor = pairs[pairs["has_followup"]]
    tps = cohort.timepoints()
    tps = tps[tps["days_from_baseline"] > 0]
    m = tps[tps.reader == "reader1"].merge(
        tps[tps.reader == "reader2"], on=["patient_id", "timepoint"], suffixes=("_a", "_b")
    )
    cat = lambda s: s.astype(str).replace({"": "NE", "nan": "NE"})  # noqa: E731
    r_pairs = pd.concat(
        [
            pd.DataFrame({"measure": "bor", "a": bor["bor_a"], "b": bor["bor_b"]}),
            pd.DataFrame(
                {
                    "measure": "timepoint_response",
                    "a": cat(m["overall_response_a"]),
                    "b": cat(m["overall_response_b"]),
                }
            ),
        ]
    )
    cont = pd.concat(
        [
            pd.DataFrame({"measure": "baseline_sod", "x": pairs["baseline_sod_a"],
                          "y": pairs["baseline_sod_b"]}),
            pd.DataFrame({"measure": "change_first_followup", "x": pairs["change_first_followup_a"],
                          "y": pairs["change_first_followup_b"]}).dropna(),
        ]
    )  # fmt: skip
    ref = _run_r(tmp_path, r_pairs, cont)
    a = res.agreement
    for measure in ("bor", "timepoint_response"):
        k = _ours(a, measure, "kappa")
        w = _ours(a, measure, "weighted_kappa_linear")
        assert k["n"] == (len(bor) if measure == "bor" else len(m))
        assert k["estimate"] == pytest.approx(ref[f"{measure}_kappa"], abs=1e-6)
        assert k["ci_low"] == pytest.approx(ref[f"{measure}_kappa_low"], abs=1e-6)
        assert k["ci_high"] == pytest.approx(ref[f"{measure}_kappa_high"], abs=1e-6)
        assert k["ci_low"] == pytest.approx(ref[f"{measure}_kappa_vcd_low"], abs=1e-6)
        assert w["estimate"] == pytest.approx(ref[f"{measure}_wkappa"], abs=1e-6)
        assert w["estimate"] == pytest.approx(ref[f"{measure}_wkappa_vcd"], abs=1e-6)
        # vcd does not cut the interval at 1 (psych and we do).
        assert w["ci_low"] == pytest.approx(ref[f"{measure}_wkappa_low"], abs=1e-6)
        assert w["ci_high"] == pytest.approx(min(ref[f"{measure}_wkappa_high"], 1), abs=1e-6)
        assert 0.3 < k["estimate"] < 1  # readers agree well but not perfectly
    for measure in ("baseline_sod", "change_first_followup"):
        icc = _ours(a, measure, "icc_2_1")
        assert icc["estimate"] == pytest.approx(ref[f"{measure}_icc"], abs=1e-6)
        assert icc["ci_low"] == pytest.approx(ref[f"{measure}_icc_low"], abs=1e-6)
        assert icc["ci_high"] == pytest.approx(ref[f"{measure}_icc_high"], abs=1e-6)
        assert 0.7 < icc["estimate"] < 1


def test_every_category_and_poor_agreement_match_r(tmp_path):
    # All six categories, weak agreement, a biased second rater: exercises the full
    # tables and the ICC's rater (column) effect.
    rng = np.random.default_rng(1)
    n = 150
    a = rng.choice(CATEGORIES, n, p=[0.1, 0.25, 0.3, 0.1, 0.2, 0.05])
    b = np.where(rng.random(n) < 0.55, a, rng.choice(CATEGORIES, n))
    x = rng.normal(80, 25, 40)
    y = x * 1.04 + 3 + rng.normal(0, 9, 40)
    pairs = pd.DataFrame({"measure": "mixed", "a": a, "b": b})
    cont = pd.DataFrame({"measure": "biased", "x": x, "y": y})
    ref = _run_r(tmp_path, pairs, cont)
    k = cohen_kappa(a, b, CATEGORIES)
    assert k.n == n
    assert k.kappa == pytest.approx(ref["mixed_kappa"], abs=1e-6)
    assert (k.ci_low, k.ci_high) == pytest.approx(
        (ref["mixed_kappa_low"], ref["mixed_kappa_high"]), abs=1e-6
    )
    sd = lambda v: np.where(v == "NON-CR/NON-PD", "SD", v)  # noqa: E731
    w = cohen_kappa(sd(a), sd(b), ORDERED, weighted=True)
    assert w.kappa == pytest.approx(ref["mixed_wkappa"], abs=1e-6)
    assert (w.ci_low, w.ci_high) == pytest.approx(
        (ref["mixed_wkappa_low"], ref["mixed_wkappa_high"]), abs=1e-6
    )
    icc = icc_2_1(np.column_stack([x, y]))
    assert icc.icc == pytest.approx(ref["biased_icc"], abs=1e-6)
    assert (icc.ci_low, icc.ci_high) == pytest.approx(
        (ref["biased_icc_low"], ref["biased_icc_high"]), abs=1e-6
    )


def test_sas_published_agreement_example():
    # SAS/STAT User's Guide, PROC FREQ, "Agreement Study" (skin condition rated by two
    # dermatologists, terrible < poor < marginal < clear), printed to 4 decimals:
    # simple kappa 0.3449 (ASE 0.0724, 95 % CI 0.2030-0.4868), weighted kappa
    # (Cicchetti-Allison = linear) 0.5082 (ASE 0.0655, 95 % CI 0.3798-0.6366).
    table = [[10, 4, 1, 0], [5, 10, 12, 2], [2, 4, 12, 5], [0, 2, 6, 13]]
    levels = ["terrible", "poor", "marginal", "clear"]
    a = [levels[i] for i in range(4) for j in range(4) for _ in range(table[i][j])]
    b = [levels[j] for i in range(4) for j in range(4) for _ in range(table[i][j])]
    k = cohen_kappa(a, b, levels)
    assert (round(k.kappa, 4), round(k.se, 4)) == (0.3449, 0.0724)
    assert (round(k.ci_low, 4), round(k.ci_high, 4)) == (0.2030, 0.4868)
    w = cohen_kappa(a, b, levels, weighted=True)
    assert (round(w.kappa, 4), round(w.se, 4)) == (0.5082, 0.0655)
    assert (round(w.ci_low, 4), round(w.ci_high, 4)) == (0.3798, 0.6366)
