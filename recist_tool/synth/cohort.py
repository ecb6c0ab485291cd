"""A synthetic cohort calibrated to the founding study (Kane et al., J Nucl Med 2018).

Model (every parameter is a field of :class:`CohortParams`; see
``docs/synthetic_cohort.md``):

- Each patient has a latent prognosis ``z ~ N(0, 1)``; the hazard of death is
  ``lambda0 * exp(-beta * z)`` from treatment (time zero), constant over time.
  ``lambda0`` is solved so the population median OS is ``median_os_months``.
- Assessments happen only to patients alive (and in follow-up) at them, so every
  group is defined conditional on surviving to its assessment — the
  guarantee-time bias of the real study arises by construction:

  * first clinical visit (``visit_days``): symptomatic response (yes/no) and
    biochemical response (response/stable/progression) from ``z`` plus noise,
    thresholded so the whole cohort shows the published shares (patients who die
    before the visit count as "no" / "progression", as a chart review would);
  * ~3-month CT (``ct_days``) for a subset of those alive: imaging response from
    ``z`` plus noise, thresholded at the published 20/60/20 % shares;
  * later CTs every ``scan_interval_days`` until progression or the end of
    follow-up; progression is drawn with hazard ``progression_ratio`` times the
    death hazard (progression at the first CT for the "progression" group);
  * retreatments every ``retreat_interval_days`` with probability
    ``retreat_prob`` while alive, up to ``max_treatments``.
- Follow-up ends at death, at the study close or at random loss to follow-up.

Lesion measurements are written as annotation CSV rows whose RECIST evaluation
reproduces each patient's course (PR: −35 to −65 %, SD: −15 to +12 %, PD: +30 to
+60 % from baseline; later progression: +30 % over the nadir and at least +8 mm,
or a new lesion after a complete response).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recist_tool.annotations import COLUMNS

DAYS_PER_MONTH = 30.4375
# Distinct organs: at most one target per organ, well within RECIST's limits.
_ORGANS = ("liver", "lung", "pancreas", "lymph node", "bone", "adrenal")


@dataclass
class CohortParams:
    """Parameters of the synthetic cohort (defaults calibrated to the study)."""

    n: int = 211
    median_os_months: float = 29.0
    beta: float = 1.1  # log-hazard per SD of the latent prognosis
    ct_fraction: float = 125 / 211  # patients with a follow-up CT
    imaging_shares: tuple[float, float, float] = (0.20, 0.60, 0.20)  # response/stable/PD
    cr_share_of_response: float = 0.10
    symptomatic_share: float = 0.71
    biochemical_shares: tuple[float, float, float] = (0.34, 0.48, 0.18)
    noise_symptomatic: float = 1.4
    noise_biochemical: float = 0.1
    noise_imaging: float = 0.6
    visit_days: tuple[int, int] = (28, 56)
    ct_days: tuple[int, int] = (70, 91)
    scan_interval_days: tuple[int, int] = (76, 106)
    max_scans: int = 10
    progression_ratio: float = 2.5
    retreat_interval_days: tuple[int, int] = (150, 300)
    retreat_prob: float = 0.5
    max_treatments: int = 5
    accrual: tuple[str, str] = ("1991-01-01", "2014-12-31")
    study_close: str = "2016-06-30"
    loss_rate_per_year: float = 0.03
    baseline_lead_days: tuple[int, int] = (3, 28)
    extra: dict = field(default_factory=dict)


@dataclass
class Cohort:
    """A generated cohort: annotations, clinical table, treatments and the truth."""

    annotations: pd.DataFrame
    clinical: pd.DataFrame
    treatments: pd.DataFrame
    truth: pd.DataFrame
    params: CohortParams


def baseline_hazard(params: CohortParams) -> float:
    """Daily ``lambda0`` giving the population median OS (Gauss–Hermite over z)."""
    from scipy.optimize import brentq

    x, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    t = params.median_os_months * DAYS_PER_MONTH

    def surv_minus_half(log_lam: float) -> float:
        return float(np.sum(w * np.exp(-np.exp(log_lam) * np.exp(-params.beta * x) * t)) - 0.5)

    return float(np.exp(brentq(surv_minus_half, -30, 5)))


def _uniform_days(rng: np.random.Generator, lo_hi: tuple[int, int], n: int) -> np.ndarray:
    return rng.integers(lo_hi[0], lo_hi[1] + 1, n).astype(float)


def _cut(score: np.ndarray, eligible: np.ndarray, shares_of_all: list[float], n: int):
    """Thresholds on ``score`` (low = better) among ``eligible`` patients so that the
    best-scored eligible patients fill the given shares of the *whole* cohort in turn
    (the ineligible fall into the last, worst category)."""
    vals = np.sort(score[eligible])
    m = len(vals)
    cuts = []
    acc = 0.0
    for s in shares_of_all:
        acc += s * n
        k = int(np.clip(round(acc), 0, m))
        cuts.append(vals[k - 1] if k > 0 else -np.inf)
    return cuts


def generate_cohort(params: CohortParams | None = None, seed: int = 0) -> Cohort:
    """Generate a synthetic cohort.

    Parameters
    ----------
    params : CohortParams, optional
    seed : int
        Seed of numpy's default generator: the same seed gives the same cohort.

    Returns
    -------
    Cohort
    """
    p = params or CohortParams()
    rng = np.random.default_rng(seed)
    n = p.n
    z = rng.normal(size=n)
    lam = baseline_hazard(p) * np.exp(-p.beta * z)
    death_t = rng.exponential(1.0 / lam)
    a0, a1 = pd.Timestamp(p.accrual[0]), pd.Timestamp(p.accrual[1])
    t0 = a0 + pd.to_timedelta(rng.integers(0, (a1 - a0).days + 1, n), unit="D")
    close = (pd.Timestamp(p.study_close) - t0).days.to_numpy().astype(float)
    loss = rng.exponential(365.25 / p.loss_rate_per_year, n)
    end = np.floor(np.minimum.reduce([death_t, close, loss]))
    end = np.maximum(end, 1.0)
    death = (death_t <= np.minimum(close, loss)).astype(int)

    # First clinical visit: symptomatic and biochemical response.
    visit = _uniform_days(rng, p.visit_days, n)
    at_visit = end > visit
    s_score = z + rng.normal(scale=p.noise_symptomatic, size=n)
    (s_cut,) = _cut(-s_score, at_visit, [p.symptomatic_share], n)
    symptomatic = np.where(at_visit & (-s_score <= s_cut), "yes", "no")
    b_score = z + rng.normal(scale=p.noise_biochemical, size=n)
    c1, c2 = _cut(-b_score, at_visit, list(p.biochemical_shares[:2]), n)
    biochemical = np.where(
        ~at_visit,
        "progression",
        np.where(-b_score <= c1, "response", np.where(-b_score <= c2, "stable", "progression")),
    )

    # Follow-up CT at ~3 months for a subset of those alive and in follow-up.
    ct = _uniform_days(rng, p.ct_days, n)
    at_ct = np.flatnonzero(end > ct)
    n_ct = min(len(at_ct), round(p.ct_fraction * n))
    has_ct = np.zeros(n, bool)
    has_ct[rng.choice(at_ct, n_ct, replace=False)] = True
    i_score = z + rng.normal(scale=p.noise_imaging, size=n)
    imaging = np.full(n, "", dtype=object)
    if n_ct:
        q = np.quantile(i_score[has_ct], [p.imaging_shares[2], 1 - p.imaging_shares[0]])
        imaging[has_ct] = np.where(
            i_score[has_ct] <= q[0], "PD", np.where(i_score[has_ct] > q[1], "PR", "SD")
        )
        pr = np.flatnonzero(imaging == "PR")
        imaging[pr[rng.random(len(pr)) < p.cr_share_of_response]] = "CR"

    # Progression: at the first CT for PD; otherwise later, memoryless after the CT.
    prog_t = np.where(imaging == "PD", ct, ct + rng.exponential(1.0 / (lam * p.progression_ratio)))

    # Retreatments while alive.
    treat_days: list[list[float]] = []
    for i in range(n):
        days = [0.0]
        t = 0.0
        while len(days) < p.max_treatments:
            t += float(rng.integers(p.retreat_interval_days[0], p.retreat_interval_days[1] + 1))
            if t >= end[i] or rng.random() >= p.retreat_prob:
                break
            days.append(t)
        treat_days.append(days)

    baseline_lead = _uniform_days(rng, p.baseline_lead_days, n)
    ann, truth_prog, last_scan = _annotations(
        rng, p, t0, has_ct, imaging, ct, prog_t, end, baseline_lead
    )

    ids = [f"SYN{i + 1:05d}" for i in range(n)]
    fmt = "%Y-%m-%d"

    def date(days: np.ndarray) -> pd.Series:
        return (t0 + pd.to_timedelta(days, unit="D")).strftime(fmt)

    visit_date = np.where(at_visit, date(visit), "")
    clinical = pd.DataFrame(
        {
            "patient_id": ids,
            "treatment_date": t0.strftime(fmt),
            "last_contact_date": date(end),
            "death": death,
            "symptomatic_response": symptomatic,
            "symptomatic_response_date": visit_date,
            "biochemical_response": biochemical,
            "biochemical_response_date": visit_date,
            "n_treatments": [len(d) for d in treat_days],
        }
    )
    treatments = pd.DataFrame(
        [
            (ids[i], (t0[i] + pd.Timedelta(days=d)).strftime(fmt))
            for i in range(n)
            for d in treat_days[i]
        ],
        columns=["patient_id", "date"],
    )
    truth = pd.DataFrame(
        {
            "patient_id": ids,
            "z": z,
            "os_days": end,
            "death": death,
            "first_ct_days": np.where(has_ct, ct, np.nan),
            "imaging_response": imaging,
            "progression_days": truth_prog,
            "last_scan_days": last_scan,
        }
    )
    ann["patient_id"] = [ids[i] for i in ann.pop("_i")]
    ann = ann[["patient_id", *[c for c in ann.columns if c != "patient_id"]]]
    return Cohort(ann, clinical, treatments, truth, p)


def _annotations(rng, p, t0, has_ct, imaging, ct, prog_t, end, lead):
    """Lesion rows for every patient; returns (frame, progression day, last scan day)."""
    rows: list[tuple] = []
    n = len(has_ct)
    prog_seen = np.full(n, np.nan)
    last_scan = np.full(n, np.nan)
    for i in range(n):
        k = int(rng.integers(1, 5))
        organs = [_ORGANS[j] for j in rng.choice(len(_ORGANS), k, replace=False)]
        nodal = np.array([o == "lymph node" for o in organs])
        long0 = np.round(rng.uniform(15, 60, k), 1)
        short0 = np.round(
            np.where(nodal, rng.uniform(16, 35, k), long0 * rng.uniform(0.5, 0.9, k)), 1
        )
        long0 = np.where(nodal, np.round(short0 * rng.uniform(1.1, 1.5, k), 1), long0)
        non_target = rng.random() < 0.5
        base_day = -lead[i]
        scans = [(base_day, "baseline", 1.0, False)]
        if has_ct[i]:
            cat = imaging[i]
            f = {
                "CR": 0.0,
                "PR": rng.uniform(0.35, 0.65),
                "SD": rng.uniform(0.85, 1.12),
                "PD": rng.uniform(1.3, 1.6),
            }[cat]
            scans.append((ct[i], "fu1", f, False))
            if cat == "PD":
                prog_seen[i] = ct[i]
            else:
                day = ct[i]
                for j in range(2, p.max_scans + 1):
                    day += float(rng.integers(p.scan_interval_days[0], p.scan_interval_days[1] + 1))
                    if day >= end[i]:
                        break
                    progressed = day >= prog_t[i]
                    scans.append((day, f"fu{j}", f, progressed))
                    if progressed:
                        prog_seen[i] = day
                        break
        last_scan[i] = scans[-1][0]
        for day, tp, f, progressed in scans:
            date = (t0[i] + pd.Timedelta(days=int(day))).strftime("%Y-%m-%d")
            cr = f == 0.0
            grow = 1.0
            if progressed and not cr:
                nadir = f * float(np.sum(np.where(nodal, short0, long0)))
                grow = max(1.3, (nadir + 8.0) / max(nadir, 1e-9))
            for j in range(k):
                if cr:
                    if nodal[j]:
                        s_ax = round(float(rng.uniform(5, 9)), 1)
                        vals = (round(s_ax * 1.2, 1), s_ax, "measured")
                    else:
                        vals = (0.0, 0.0, "disappeared")
                else:
                    lg = round(float(long0[j] * f * grow), 1)
                    sh = round(float(short0[j] * f * grow), 1)
                    vals = (lg, sh, "measured")
                rows.append((i, tp, date, f"T{j + 1}", "target", organs[j], bool(nodal[j]), *vals))
            if non_target:
                st = "present" if tp == "baseline" or not cr else "absent"
                rows.append((i, tp, date, "NT1", "non_target", "peritoneum", False, None, None, st))
            if progressed and cr:
                rows.append((i, tp, date, "N1", "new", "liver", False, 12.0, 9.0, "present"))
    frame = pd.DataFrame(
        rows,
        columns=["_i", *COLUMNS[1:]],  # patient index first; ids are made later
    )
    return frame, prog_seen, last_scan


def write_cohort(cohort: Cohort, outdir: str | os.PathLike) -> list[Path]:
    """Write ``annotations.csv``, ``clinical.csv``, ``treatments.csv``, ``truth.csv``
    and ``params.json`` to ``outdir`` (each atomically).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    import json

    from recist_tool._atomic import atomic_write, atomic_write_text
    from recist_tool.annotations import write_annotations

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    files = [write_annotations(cohort.annotations, out / "annotations.csv")]
    for name, frame in (
        ("clinical.csv", cohort.clinical),
        ("treatments.csv", cohort.treatments),
        ("truth.csv", cohort.truth),
    ):
        with atomic_write(out / name, "w") as fh:
            frame.to_csv(fh, index=False, lineterminator="\n", float_format="%.6g")
        files.append(out / name)
    atomic_write_text(out / "params.json", json.dumps(asdict(cohort.params), indent=2) + "\n")
    files.append(out / "params.json")
    return files
