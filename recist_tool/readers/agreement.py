"""Inter-reader agreement of a double-read cohort, for every pair of readers.

For each pair of readers, over the patients both read (finished readings):

- **best overall response** and **overall response per follow-up time point**
  (matched by time point label): Cohen's kappa over the six RECIST categories (CR,
  PR, SD, NON-CR/NON-PD, PD, NE) and linearly weighted kappa over the ordered scale
  CR < PR < SD < PD (NON-CR/NON-PD counted as SD; pairs with NE left out), each with
  its 95 % interval;
- **baseline sum of diameters** and **% change from baseline at the first follow-up**:
  ICC(2,1) with its 95 % interval and Bland–Altman bias and limits of agreement
  (plots in PNG and PDF);
- **per lesion**: for lesions both readers chose as targets (matched as in
  :mod:`recist_tool.readers.matching`), the difference of the measured diameter (long
  axis; short axis for a node) at every time point both measured; and how often the
  readers chose different targets;
- **PD discordance**: the share of patients (and of time points) where one reader
  records progression and the other does not — the disagreements that change a PFS
  event.

Every response and sum comes from the RECIST engine. The statistics are in
:mod:`recist_tool.readers.stats`.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recist_tool import __version__
from recist_tool._atomic import atomic_write, atomic_write_bytes, atomic_write_text
from recist_tool._outputs import output_set
from recist_tool.readers.cohort import CohortReadings, ReadersError
from recist_tool.readers.matching import TOLERANCE_MM, match_lesions
from recist_tool.readers.stats import bland_altman, bland_altman_figure, cohen_kappa, icc_2_1

#: Categories of the plain kappa (every RECIST overall response; empty = NE).
CATEGORIES = ["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"]
#: The ordered scale of the weighted kappa (NON-CR/NON-PD counts as SD, NE is left out).
ORDERED = ["CR", "PR", "SD", "PD"]
AGREEMENT_COLUMNS = (
    "reader_a",
    "reader_b",
    "measure",
    "statistic",
    "n",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "note",
)
BA_COLUMNS = (
    "reader_a",
    "reader_b",
    "measure",
    "unit",
    "n",
    "bias",
    "sd",
    "bias_ci_low",
    "bias_ci_high",
    "loa_low",
    "loa_high",
    "loa_low_ci_low",
    "loa_low_ci_high",
    "loa_high_ci_low",
    "loa_high_ci_high",
)
LESION_COLUMNS = (
    "reader_a",
    "reader_b",
    "patient_id",
    "lesion_id_a",
    "lesion_id_b",
    "match",
    "nodal",
    "timepoint",
    "size_a_mm",
    "size_b_mm",
    "difference_mm",
    "relative_difference_pct",
)
MEASURES = {
    "baseline_sod": ("baseline sum of diameters", "mm"),
    "change_first_followup": ("% change from baseline at the first follow-up", "%"),
}


@dataclass
class AgreementResult:
    """Tables and figures of :func:`compute_agreement` (nothing written yet).

    Attributes
    ----------
    agreement : pandas.DataFrame
        One row per reader pair, measure and statistic (columns
        :data:`AGREEMENT_COLUMNS`): kappa and weighted kappa for ``bor`` and
        ``timepoint_response``, ICC(2,1) for the continuous measures, PD discordance
        and target-choice rates, lesion diameter summaries.
    bland_altman : pandas.DataFrame
    lesions : pandas.DataFrame
        Per matched target lesion and time point, the two readers' diameters.
    tables : pandas.DataFrame
        The kappa contingency tables in long form (reader pair, measure, category of
        A, category of B, count).
    pairs : pandas.DataFrame
        Per reader pair and patient: both readers' BOR, first follow-up response,
        progression date, baseline SOD and first follow-up % change.
    figures : dict
        ``bland_altman_<measure>_<A>_<B>`` -> matplotlib figure.
    notes : list of str
    """

    agreement: pd.DataFrame
    bland_altman: pd.DataFrame
    lesions: pd.DataFrame
    tables: pd.DataFrame
    pairs: pd.DataFrame
    figures: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def write(
        self, outdir: str | os.PathLike, formats: tuple[str, ...] = ("png", "pdf")
    ) -> list[Path]:
        """Write every table (CSV), the figures and ``summary.json`` as one output set.

        The files appear in ``outdir`` together, replacing the previous run's
        (:mod:`recist_tool._outputs`): the folder holds one run's results.
        """
        from recist_tool.survival.plots import render

        names = []
        with output_set(outdir, "agreement") as out:
            for name, frame in (
                ("agreement.csv", self.agreement),
                ("bland_altman.csv", self.bland_altman),
                ("lesion_differences.csv", self.lesions),
                ("kappa_tables.csv", self.tables),
                ("reader_pairs.csv", self.pairs),
            ):
                with atomic_write(out / name, "w") as fh:
                    frame.to_csv(fh, index=False, lineterminator="\n", float_format="%.10g")
                names.append(name)
            for name, fig in self.figures.items():
                for fmt, data in render(fig, formats).items():
                    atomic_write_bytes(out / f"{name}.{fmt}", data)
                    names.append(f"{name}.{fmt}")
            summary = {
                "software": f"recist-tool {__version__}",
                "notes": self.notes,
                "files": [*names, "summary.json"],
            }
            atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
            names.append("summary.json")
        return [Path(outdir) / n for n in names]


def _row(ra, rb, measure, statistic, n, estimate, se=np.nan, lo=np.nan, hi=np.nan, note=""):
    """One row of agreement.csv."""
    return (ra, rb, measure, statistic, n, estimate, se, lo, hi, note)


def _previous_files(out: Path) -> set[str]:
    try:
        doc = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        return {str(n) for n in doc.get("files", []) if "/" not in str(n)}
    except (OSError, ValueError, AttributeError):
        return set()


def _cat(values: pd.Series) -> pd.Series:
    v = values.astype(object).where(values.notna(), "").astype(str)
    return v.where(v != "", "NE")


def _ordered(values: pd.Series) -> pd.Series:
    return values.replace({"NON-CR/NON-PD": "SD"})


def _kappa_rows(a, b, ra, rb, measure, tables):
    rows = []
    for weighted in (False, True):
        cats = ORDERED if weighted else CATEGORIES
        x, y = (_ordered(a), _ordered(b)) if weighted else (a, b)
        k = cohen_kappa(x, y, cats, weighted=weighted)
        left = len(a) - k.n
        note = f"{left} pair(s) with NE left out" if weighted and left else ""
        if not np.isfinite(k.kappa) and k.n:
            note = (note + "; " if note else "") + "not estimable (one category only)"
        rows.append(
            (
                ra,
                rb,
                measure,
                "weighted_kappa_linear" if weighted else "kappa",
                k.n,
                k.kappa,
                k.se,
                k.ci_low,
                k.ci_high,
                note,
            )
        )
        rows.append(
            (
                ra,
                rb,
                measure,
                "observed_agreement",
                k.n,
                k.observed,
                np.nan,
                np.nan,
                np.nan,
                "ordered scale" if weighted else "",
            )
        )
        if not weighted:
            t = k.table.stack().reset_index()
            t.columns = ["category_a", "category_b", "count"]
            t.insert(0, "measure", measure)
            t.insert(0, "reader_b", rb)
            t.insert(0, "reader_a", ra)
            tables.append(t)
    # Drop the second observed-agreement row (ordered scale) when identical to the first.
    return rows


def _first_followup(tp: pd.DataFrame) -> pd.DataFrame:
    f = tp[tp["days_from_baseline"] > 0].sort_values(["patient_id", "days_from_baseline"])
    return f.drop_duplicates("patient_id")[["patient_id", "timepoint", "change_from_baseline_pct"]]


def _sizes(rows: pd.DataFrame) -> dict[tuple[str, str], dict[str, tuple[float, bool]]]:
    """(patient, lesion) -> {time point: (measured diameter, nodal)} of the targets.

    The diameter RECIST counts: short axis for a node, else long axis; fragments of a
    split lesion add up.
    """
    t = rows[(rows["kind"].astype(str) == "target") & (rows["status"].astype(str) == "measured")]
    size = np.where(t["nodal"], t["short_axis_mm"], t["long_axis_mm"]).astype(float)
    frame = pd.DataFrame(
        {
            "patient_id": t["patient_id"].astype(str).to_numpy(),
            "lesion_id": t["lesion_id"].astype(str).to_numpy(),
            "timepoint": t["timepoint"].astype(str).to_numpy(),
            "nodal": t["nodal"].to_numpy(),
            "size": size,
        }
    )
    g = frame.groupby(["patient_id", "lesion_id", "timepoint", "nodal"], as_index=False)["size"]
    out: dict[tuple[str, str], dict[str, tuple[float, bool]]] = {}
    for pid, lid, tp, nodal, v in g.sum().itertuples(index=False):
        out.setdefault((pid, lid), {})[tp] = (float(v), bool(nodal))
    return out


def _kinds(rows: pd.DataFrame) -> dict[str, dict[str, str]]:
    """patient -> {lesion: kind}."""
    first = rows.drop_duplicates(["patient_id", "lesion_id"])
    out: dict[str, dict[str, str]] = {}
    for pid, lid, kind in zip(
        first["patient_id"].astype(str),
        first["lesion_id"].astype(str),
        first["kind"].astype(str),
        strict=True,
    ):
        out.setdefault(pid, {})[lid] = kind
    return out


def compute_agreement(
    cohort: CohortReadings, tolerance_mm: float = TOLERANCE_MM, figures: bool = True
) -> AgreementResult:
    """Agreement statistics for every pair of readers with patients in common.

    Raises
    ------
    ReadersError
        When no two readers read a patient in common.
    """
    pts = cohort.patients()
    tps = cohort.timepoints()
    rows: list[tuple] = []
    ba_rows, lesion_rows, tables, pair_frames, notes = [], [], [], [], []
    figs = {}
    readers = [r for r in cohort.readers if r in cohort.evaluations]
    n_pairs = 0
    for ra, rb in itertools.combinations(readers, 2):
        pa = pts[pts["reader"] == ra].set_index("patient_id")
        pb = pts[pts["reader"] == rb].set_index("patient_id")
        common = pa.index.intersection(pb.index)
        if not len(common):
            continue
        n_pairs += 1
        pa, pb = pa.loc[common], pb.loc[common]
        # Responses. BOR: patients with a follow-up scan (without one, BOR is NE for
        # every reader by construction and would only inflate the agreement).
        fu = (pa["first_followup_date"].notna() | pb["first_followup_date"].notna()).to_numpy()
        rows += _kappa_rows(
            _cat(pa["best_overall_response"][fu]),
            _cat(pb["best_overall_response"][fu]),
            ra,
            rb,
            "bor",
            tables,
        )
        if (~fu).any():
            notes.append(
                f"{ra} vs {rb}: {int((~fu).sum())} patient(s) without a follow-up scan left "
                "out of the best-overall-response kappa"
            )
        ta = tps[(tps["reader"] == ra) & (tps["days_from_baseline"] > 0)]
        tb = tps[(tps["reader"] == rb) & (tps["days_from_baseline"] > 0)]
        m = ta.merge(tb, on=["patient_id", "timepoint"], suffixes=("_a", "_b"))
        m = m[m["patient_id"].isin(common)]
        rows += _kappa_rows(
            _cat(m["overall_response_a"]),
            _cat(m["overall_response_b"]),
            ra,
            rb,
            "timepoint_response",
            tables,
        )
        n_unmatched = (
            len(ta[ta["patient_id"].isin(common)])
            + len(tb[tb["patient_id"].isin(common)])
            - 2 * len(m)
        )
        if n_unmatched:
            notes.append(
                f"{ra} vs {rb}: {n_unmatched} follow-up time point(s) read by one reader only "
                "(matched by time point label) left out of the per-time-point kappa"
            )
        # PD / non-PD.
        prog_a = pa["progression_date"].notna()
        prog_b = pb["progression_date"].notna()
        n = len(common)
        k = int((prog_a != prog_b).sum())
        rows.append(
            (
                ra,
                rb,
                "progression",
                "pd_discordance_rate",
                n,
                k / n,
                np.nan,
                np.nan,
                np.nan,
                f"{k} of {n} patients: progression recorded by one reader only",
            )
        )
        both = prog_a & prog_b
        if both.any():
            apart = (pa.loc[both, "progression_date"] - pb.loc[both, "progression_date"]).abs()
            days = apart.dt.days
            rows.append(
                (
                    ra,
                    rb,
                    "progression",
                    "pd_date_difference_days_median",
                    int(both.sum()),
                    float(days.median()),
                    np.nan,
                    float(days.min()),
                    float(days.max()),
                    "both readers record progression; ci columns: min and max",
                )
            )
        pd_a = m["overall_response_a"].astype(str) == "PD"
        pd_b = m["overall_response_b"].astype(str) == "PD"
        kk = int((pd_a != pd_b).sum())
        if len(m):
            rows.append(
                (
                    ra,
                    rb,
                    "timepoint_response",
                    "pd_discordance_rate",
                    len(m),
                    kk / len(m),
                    np.nan,
                    np.nan,
                    np.nan,
                    f"{kk} of {len(m)} time points: PD by one reader only",
                )
            )
        # Continuous measures.
        fa, fb = _first_followup(ta), _first_followup(tb)
        ff = fa.merge(fb, on="patient_id", suffixes=("_a", "_b"))
        ff = ff[ff["patient_id"].isin(common)]
        same_tp = ff["timepoint_a"] == ff["timepoint_b"]
        if (~same_tp).any():
            notes.append(
                f"{ra} vs {rb}: {int((~same_tp).sum())} patient(s) whose first follow-up "
                "differs between the readers left out of the % change agreement"
            )
        ff = ff[same_tp]
        values = {
            "baseline_sod": (
                pa["baseline_sum_mm"].to_numpy(float),
                pb["baseline_sum_mm"].to_numpy(float),
            ),
            "change_first_followup": (
                ff["change_from_baseline_pct_a"].to_numpy(float),
                ff["change_from_baseline_pct_b"].to_numpy(float),
            ),
        }
        for measure, (x, y) in values.items():
            icc = icc_2_1(np.column_stack([x, y]) if len(x) else np.empty((0, 2)))
            rows.append(
                (
                    ra,
                    rb,
                    measure,
                    "icc_2_1",
                    icc.n,
                    icc.icc,
                    np.nan,
                    icc.ci_low,
                    icc.ci_high,
                    f"F={icc.f:.4g}, df={icc.df1},{icc.df2}, p={icc.p:.3g}",
                )
            )
            ba = bland_altman(x, y)
            label, unit = MEASURES[measure]
            ba_rows.append(
                (
                    ra,
                    rb,
                    measure,
                    unit,
                    ba.n,
                    ba.bias,
                    ba.sd,
                    ba.bias_ci_low,
                    ba.bias_ci_high,
                    ba.loa_low,
                    ba.loa_high,
                    *ba.loa_low_ci,
                    *ba.loa_high_ci,
                )
            )
            if figures and ba.n >= 2:
                figs[f"bland_altman_{measure}_{ra}_{rb}"] = bland_altman_figure(
                    x, y, ba, title=f"{label}: {ra} − {rb}", unit=unit
                )
        # Per-lesion diameters and target choice.
        lr, choice = _lesion_pairs(cohort, ra, rb, list(common), tolerance_mm)
        lesion_rows += lr
        rows += choice
        pair = pd.DataFrame(
            {
                "reader_a": ra,
                "reader_b": rb,
                "patient_id": common,
                "has_followup": fu,
                "bor_a": _cat(pa["best_overall_response"]).to_numpy(),
                "bor_b": _cat(pb["best_overall_response"]).to_numpy(),
                "first_followup_a": _cat(pa["first_followup_response"]).to_numpy(),
                "first_followup_b": _cat(pb["first_followup_response"]).to_numpy(),
                "progression_date_a": pa["progression_date"].to_numpy(),
                "progression_date_b": pb["progression_date"].to_numpy(),
                "baseline_sod_a": pa["baseline_sum_mm"].to_numpy(float),
                "baseline_sod_b": pb["baseline_sum_mm"].to_numpy(float),
            }
        )
        pair = pair.merge(
            ff[["patient_id", "change_from_baseline_pct_a", "change_from_baseline_pct_b"]].rename(
                columns={
                    "change_from_baseline_pct_a": "change_first_followup_a",
                    "change_from_baseline_pct_b": "change_first_followup_b",
                }
            ),
            on="patient_id",
            how="left",
        )
        pair_frames.append(pair)
    if not n_pairs:
        raise ReadersError(
            f"{cohort.cohort_dir}: no patient read by two readers (readers: "
            f"{', '.join(readers) or 'none'}); agreement needs double readings"
        )
    lesions = pd.DataFrame(lesion_rows, columns=list(LESION_COLUMNS))
    for (ra, rb), g in lesions.groupby(["reader_a", "reader_b"], sort=False):
        d = g["difference_mm"].to_numpy(float)
        mean = (g["size_a_mm"] + g["size_b_mm"]).to_numpy(float) / 2
        # Within-lesion SD of two readings = |d| / sqrt(2); CV = its RMS over the mean.
        cv = float(np.sqrt(np.mean((d / np.sqrt(2) / mean) ** 2))) * 100 if len(d) else np.nan
        rows.append(
            (
                ra,
                rb,
                "lesion_diameter",
                "mean_difference_mm",
                len(d),
                float(np.mean(d)),
                float(np.std(d, ddof=1)) if len(d) > 1 else np.nan,
                np.nan,
                np.nan,
                "reader A − reader B; se column: SD of the differences",
            )
        )
        rows.append(
            (
                ra,
                rb,
                "lesion_diameter",
                "mean_absolute_difference_mm",
                len(d),
                float(np.mean(np.abs(d))),
                np.nan,
                np.nan,
                np.nan,
                "",
            )
        )
        rows.append(
            (
                ra,
                rb,
                "lesion_diameter",
                "coefficient_of_variation_pct",
                len(d),
                cv,
                np.nan,
                np.nan,
                np.nan,
                "root mean square of within-lesion SD / mean",
            )
        )
    return AgreementResult(
        agreement=pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS)),
        bland_altman=pd.DataFrame(ba_rows, columns=list(BA_COLUMNS)),
        lesions=lesions,
        tables=pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(),
        pairs=pd.concat(pair_frames, ignore_index=True),
        figures=figs,
        notes=notes + list(cohort.notes),
    )


def _lesion_pairs(cohort: CohortReadings, ra: str, rb: str, patients: list[str], tol: float):
    ann_a, ann_b = cohort.annotations[ra], cohort.annotations[rb]
    groups_a = {str(k): g for k, g in ann_a.groupby("patient_id", observed=True)}
    groups_b = {str(k): g for k, g in ann_b.groupby("patient_id", observed=True)}
    kinds_a, kinds_b = _kinds(ann_a), _kinds(ann_b)
    sizes_a, sizes_b = _sizes(ann_a), _sizes(ann_b)
    out = []
    n_targets_a = n_targets_b = n_both = 0
    patients_differ = 0
    methods: set[str] = set()
    for pid in patients:
        ga, gb = groups_a.get(pid), groups_b.get(pid)
        if ga is None or gb is None:
            continue
        match = match_lesions(ga, gb, cohort.path_of(pid, ra), cohort.path_of(pid, rb), tol)
        methods.add(match.method)
        targets_a = {k for k, v in kinds_a.get(pid, {}).items() if v == "target"}
        targets_b = {k for k, v in kinds_b.get(pid, {}).items() if v == "target"}
        both = {a: b for a, b in match.pairs.items() if a in targets_a and b in targets_b}
        n_targets_a += len(targets_a)
        n_targets_b += len(targets_b)
        n_both += len(both)
        if len(both) != len(targets_a) or len(both) != len(targets_b):
            patients_differ += 1
        for a_id, b_id in both.items():
            xa, xb = sizes_a.get((pid, a_id), {}), sizes_b.get((pid, b_id), {})
            for tp in (t for t in xa if t in xb):
                (size_a, nodal), (size_b, _) = xa[tp], xb[tp]
                d = size_a - size_b
                mean = (size_a + size_b) / 2
                rel = 100 * d / mean if mean else np.nan
                out.append(
                    (ra, rb, pid, a_id, b_id, match.method, nodal, tp, size_a, size_b, d, rel)
                )
    n = len(patients)
    choice = [
        (
            ra,
            rb,
            "target_choice",
            "patients_with_different_targets_rate",
            n,
            patients_differ / n if n else np.nan,
            np.nan,
            np.nan,
            np.nan,
            f"{patients_differ} of {n} patients; lesions matched by {', '.join(sorted(methods))}",
        ),
        (
            ra,
            rb,
            "target_choice",
            "targets_chosen_by_both",
            n_both,
            float(n_both),
            np.nan,
            np.nan,
            np.nan,
            f"of {n_targets_a} targets of {ra} and {n_targets_b} of {rb}",
        ),
    ]
    return out, choice
