"""Cross-check against R's survival package (Kaplan–Meier, log-rank, Cox with Efron ties).

R (Debian r-base-core + r-cran-survival) is installed by the CI setup; without
Rscript the test skips locally but FAILS when CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from recist_tool.survival.cox import fit_cox, fit_time_varying
from recist_tool.survival.km import KaplanMeier, summarize
from recist_tool.survival.logrank import logrank

R_SCRIPT = r"""
suppressMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
lg <- read.csv(args[2])
out <- c()
put <- function(k, v) out <<- c(out, sprintf("%s,%.15g", k, v))
for (g in c("a", "b")) {
  s <- d[d$g == g, ]
  f <- survfit(Surv(time, event) ~ 1, data = s, conf.type = "log-log")
  for (i in seq_along(f$time)) {
    put(sprintf("km_%s_surv_%g", g, f$time[i]), f$surv[i])
    if (!is.na(f$lower[i])) put(sprintf("km_%s_lower_%g", g, f$time[i]), f$lower[i])
    if (!is.na(f$upper[i])) put(sprintf("km_%s_upper_%g", g, f$time[i]), f$upper[i])
  }
  tab <- summary(f, rmean = 20)$table
  put(sprintf("rmean_%s", g), tab["rmean"])
  put(sprintf("rmean_se_%s", g), tab["se(rmean)"])
  put(sprintf("median_%s", g), tab["median"])
  put(sprintf("median_lcl_%s", g), tab["0.95LCL"])
  put(sprintf("median_ucl_%s", g), tab["0.95UCL"])
}
sd <- survdiff(Surv(time, event) ~ g, data = d)
put("logrank_chisq", sd$chisq)
put("logrank_p", pchisq(sd$chisq, length(sd$n) - 1, lower.tail = FALSE))
ctl <- coxph.control(eps = 1e-14, iter.max = 100)
fit <- coxph(Surv(time, event) ~ x + b, data = d, ties = "efron", control = ctl)
put("cox_coef_x", coef(fit)["x"]); put("cox_coef_b", coef(fit)["b"])
put("cox_se_x", sqrt(diag(vcov(fit)))[1]); put("cox_se_b", sqrt(diag(vcov(fit)))[2])
put("cox_loglik", fit$loglik[2])
put("cox_p_x", summary(fit)$coefficients["x", "Pr(>|z|)"])
put("cox_concordance", fit$concordance["concordance"])
# covariates with few levels: many patients share a risk score (ties in the C index)
f2 <- coxph(Surv(time, event) ~ b + k, data = d, ties = "efron", control = ctl)
put("cox2_coef_b", coef(f2)["b"]); put("cox2_coef_k", coef(f2)["k"])
put("cox2_se_k", sqrt(diag(vcov(f2)))[2])
put("cox2_concordance", f2$concordance["concordance"])
tv <- coxph(Surv(start, stop, event) ~ r + x, data = lg, ties = "efron", control = ctl)
put("tv_coef_r", coef(tv)["r"]); put("tv_coef_x", coef(tv)["x"])
put("tv_se_r", sqrt(diag(vcov(tv)))[1])
put("tv_loglik", tv$loglik[2])
writeLines(out)
"""


def _rscript() -> str:
    path = shutil.which("Rscript")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Rscript is missing on CI (install r-base-core and r-cran-survival)")
        pytest.skip("Rscript not installed")
    return path


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    n = 80
    x = rng.normal(size=n).round(2)
    b = rng.integers(0, 2, n)
    t = np.ceil(rng.exponential(10 * np.exp(-0.5 * x - 0.4 * b))).clip(1, 40)  # ties
    c = rng.integers(5, 45, n)
    time = np.minimum(t, c).astype(float)
    event = (t <= c).astype(int)
    k = rng.integers(0, 3, n)  # drawn last: the other columns stay as they were
    d = pd.DataFrame(
        {"time": time, "event": event, "x": x, "b": b, "g": np.where(b == 1, "b", "a"), "k": k}
    )
    # Counting-process data: covariate r switches on at day 3 for half of the patients.
    rows = []
    for i in range(n):
        switch = 3.0 if (i % 2 == 0 and time[i] > 3) else None
        if switch is None:
            rows.append((i, 0.0, time[i], event[i], 0.0, x[i]))
        else:
            rows.append((i, 0.0, switch, 0, 0.0, x[i]))
            rows.append((i, switch, time[i], event[i], 1.0, x[i]))
    lg = pd.DataFrame(rows, columns=["_id", "start", "stop", "event", "r", "x"])
    return d, lg


@pytest.fixture(scope="module")
def r_values(data, tmp_path_factory) -> dict[str, float]:
    rscript = _rscript()
    d, lg = data
    tmp = tmp_path_factory.mktemp("r")
    d.to_csv(tmp / "d.csv", index=False)
    lg.to_csv(tmp / "lg.csv", index=False)
    (tmp / "check.R").write_text(R_SCRIPT)
    proc = subprocess.run(
        [rscript, "--vanilla", str(tmp / "check.R"), str(tmp / "d.csv"), str(tmp / "lg.csv")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = {}
    for line in proc.stdout.split():
        k, v = line.rsplit(",", 1)
        out[k] = float(v) if v != "NA" else float("nan")
    return out


TOL = 1e-6


def test_kaplan_meier_and_confidence_bands(data, r_values):
    d, _ = data
    checked = 0
    for g in ("a", "b"):
        s = d[d.g == g]
        kmf = KaplanMeier(s.time.to_numpy(), s.event.to_numpy())  # ours
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_survival_function_
        for key, val in r_values.items():
            if not key.startswith(f"km_{g}_"):
                continue
            _, _, what, t = key.split("_")
            t = float(t)
            mine = {"surv": sf, "lower": ci.iloc[:, 0], "upper": ci.iloc[:, 1]}[what].loc[t]
            assert mine == pytest.approx(val, abs=TOL), key
            checked += 1
    assert checked > 60


def test_median_and_rmst(data, r_values):
    d, _ = data
    for g in ("a", "b"):
        s = d[d.g == g]
        m = summarize(s.time.to_numpy(), s.event.to_numpy(), horizon=20)
        assert m.rmst == pytest.approx(r_values[f"rmean_{g}"], abs=TOL)
        assert m.rmst_se == pytest.approx(r_values[f"rmean_se_{g}"], abs=TOL)
        for mine, key in (
            (m.median, "median"),
            (m.median_ci_low, "median_lcl"),
            (m.median_ci_high, "median_ucl"),
        ):
            r = r_values[f"{key}_{g}"]
            assert (np.isnan(mine) and np.isnan(r)) or mine == pytest.approx(r, abs=TOL), key


def test_logrank(data, r_values):
    d, _ = data
    res = logrank(d.time, d.event, d.g)
    assert res["statistic"] == pytest.approx(r_values["logrank_chisq"], abs=TOL)
    assert res["p"] == pytest.approx(r_values["logrank_p"], abs=TOL)


def test_cox_efron(data, r_values):
    d, _ = data
    fit = fit_cox(d.time, d.event, d[["x", "b"]].astype(float))
    s = fit.model.summary
    for cov in ("x", "b"):
        assert s.loc[cov, "coef"] == pytest.approx(r_values[f"cox_coef_{cov}"], abs=TOL)
        assert s.loc[cov, "se(coef)"] == pytest.approx(r_values[f"cox_se_{cov}"], abs=TOL)
    assert fit.model.log_likelihood_ == pytest.approx(r_values["cox_loglik"], abs=TOL)
    assert s.loc["x", "p"] == pytest.approx(r_values["cox_p_x"], abs=TOL)
    assert fit.concordance == pytest.approx(r_values["cox_concordance"], abs=TOL)


def test_cox_efron_tied_risk_scores(data, r_values):
    """Two covariates with 2 and 3 levels: six risk scores shared by 80 patients; R
    counts pairs with equal scores as ties, and so must the concordance."""
    d, _ = data
    fit = fit_cox(d.time, d.event, d[["b", "k"]].astype(float))
    s = fit.model.summary
    assert s.loc["b", "coef"] == pytest.approx(r_values["cox2_coef_b"], abs=TOL)
    assert s.loc["k", "coef"] == pytest.approx(r_values["cox2_coef_k"], abs=TOL)
    assert s.loc["k", "se(coef)"] == pytest.approx(r_values["cox2_se_k"], abs=TOL)
    assert fit.concordance == pytest.approx(r_values["cox2_concordance"], abs=TOL)


def test_time_varying_cox_efron(data, r_values):
    _, lg = data
    long = lg.rename(columns={"start": "_start", "stop": "_stop", "event": "_event"})
    fit = fit_time_varying(long)
    s = fit.model.summary
    assert s.loc["r", "coef"] == pytest.approx(r_values["tv_coef_r"], abs=TOL)
    assert s.loc["x", "coef"] == pytest.approx(r_values["tv_coef_x"], abs=TOL)
    assert s.loc["r", "se(coef)"] == pytest.approx(r_values["tv_se_r"], abs=TOL)
    assert fit.model.log_likelihood_ == pytest.approx(r_values["tv_loglik"], abs=TOL)
