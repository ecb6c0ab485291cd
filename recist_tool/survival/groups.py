"""Predictors: response groupings, and each predictor's value as known at a time.

Every predictor has a final value per patient and, optionally, the day (from time
zero) it became known. Before that day a patient is counted in the predictor's
*reference* level ("not (yet) shown": progression, no response, no) — the
Mantel–Byar convention used by the landmark and the time-varying analyses. The
treatment count is a running count of treatment dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recist_tool.errors import RecistError
from recist_tool.survival.inputs import SurvivalInputs

#: Name of the imaging-response predictor (from patients.csv first_followup_response).
IMAGING = "imaging_response"
#: Name of the treatment-count predictor.
TREATMENTS = "n_treatments"
#: Name of the tumour-growth-rate predictor (patients.csv tgr_pct_month; by name only).
TGR = "tgr"
#: Default TGR cut-off (%/month): GREPONET (Lamarca et al. 2019) in NETs.
TGR_CUTOFF = 0.8

#: Groupings of RECIST responses: name -> (mapping, level order; the last is the reference).
GROUPINGS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "three": (
        {
            "CR": "response",
            "PR": "response",
            "SD": "stable",
            "NON-CR/NON-PD": "stable",
            "PD": "progression",
        },
        ("response", "stable", "progression"),
    ),
    "control": (
        {
            "CR": "response+stable",
            "PR": "response+stable",
            "SD": "response+stable",
            "NON-CR/NON-PD": "response+stable",
            "PD": "progression",
        },
        ("response+stable", "progression"),
    ),
    "response": (
        {
            "CR": "response",
            "PR": "response",
            "SD": "no response",
            "NON-CR/NON-PD": "no response",
            "PD": "no response",
        },
        ("response", "no response"),
    ),
}
# The same groupings for clinical response scales (response / stable / progression).
_CLINICAL_SCALE = {"response": "CR", "stable": "SD", "progression": "PD"}
_YES_NO = ("yes", "no")
#: A text covariate with more levels is only analysed when asked for by name.
MAX_DEFAULT_LEVELS = 8


class PredictorError(RecistError):
    """A requested predictor does not exist or cannot be used."""


@dataclass
class Predictor:
    """One predictor of survival.

    Attributes
    ----------
    name : str
    kind : {"categorical", "count", "numeric"}
    values : pandas.Series
        Final value per patient (index patient_id); NaN = missing.
    levels : tuple of str
        Categorical levels in display order; the last one is the reference.
    known_days : pandas.Series or None
        Day the value became known (NaN = at time zero).
    event_days : pandas.DataFrame or None
        For a count from treatments.csv: ``patient_id, days`` one row per treatment.
    notes : list of str
        Caveats to report (e.g. a count without dates stays biased).
    """

    name: str
    kind: str
    values: pd.Series
    levels: tuple[str, ...] = ()
    known_days: pd.Series | None = None
    event_days: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def reference(self) -> str | None:
        """The reference level (last level) of a categorical predictor."""
        return self.levels[-1] if self.levels else None

    def at(self, day: float) -> pd.Series:
        """Values as known ``day`` days after time zero (reference level until known)."""
        if self.event_days is not None:
            ev = self.event_days[self.event_days["days"] <= day]
            counts = ev.groupby("patient_id").size()
            return counts.reindex(self.values.index, fill_value=0).astype(float)
        if self.known_days is None or self.kind != "categorical":
            return self.values
        later = (self.known_days > day).to_numpy() & self.values.notna().to_numpy()
        return self.values.where(~later, self.reference)

    def change_points(self) -> pd.DataFrame:
        """``patient_id, days, value`` rows: the value from ``days`` on (days > 0 only)."""
        if self.event_days is not None:
            ev = self.event_days.sort_values(["patient_id", "days"]).copy()
            ev["value"] = ev.groupby("patient_id").cumcount() + 1.0
            ev = ev.groupby(["patient_id", "days"], as_index=False)["value"].max()
            return ev[ev["days"] > 0]
        if self.known_days is None:
            return pd.DataFrame({"patient_id": [], "days": [], "value": []})
        ok = self.known_days.notna() & (self.known_days > 0) & self.values.notna()
        return pd.DataFrame(
            {
                "patient_id": self.values.index[ok],
                "days": self.known_days[ok].to_numpy(),
                "value": self.values[ok].to_numpy(),
            }
        )


def group_responses(values: pd.Series, grouping: str) -> pd.Series:
    """Map RECIST responses (CR, PR, SD, NON-CR/NON-PD, PD; NE = missing) to groups."""
    if grouping not in GROUPINGS:
        raise PredictorError(
            f"unknown grouping {grouping!r} (expected one of {', '.join(GROUPINGS)})"
        )
    mapping, _ = GROUPINGS[grouping]
    return values.map(mapping)


def _categorical(name: str, values: pd.Series, grouping: str) -> tuple[pd.Series, tuple]:
    """Clean a categorical covariate; response scales are grouped like imaging."""
    v = values.astype(object).where(values.notna())
    lower = v.dropna().astype(str).str.lower()
    present = set(lower)
    if present and present <= set(_CLINICAL_SCALE):
        v = v.map(lambda x: x if pd.isna(x) else _CLINICAL_SCALE[str(x).lower()])
        return group_responses(v, grouping), GROUPINGS[grouping][1]
    if present and present <= set(_YES_NO):
        v = v.map(lambda x: x if pd.isna(x) else str(x).lower())
        return v, _YES_NO
    # Unknown scale: levels sorted, the most frequent one is the reference.
    counts = v.value_counts()
    if counts.empty:
        return v, ()
    ref = counts.index[0]
    levels = (*sorted(x for x in counts.index if x != ref), ref)
    return v, levels


def build_predictors(
    inputs: SurvivalInputs,
    names: list[str] | None = None,
    grouping: str = "three",
    notes: list[str] | None = None,
    tgr_cutoff: float = TGR_CUTOFF,
) -> dict[str, Predictor]:
    """Build the predictors of the analysis.

    Parameters
    ----------
    inputs : SurvivalInputs
    names : list of str, optional
        Predictors to use (``imaging_response``, ``n_treatments``, or clinical.csv
        covariates). Default: imaging response (when patients.csv is given), every
        clinical covariate, and the treatment count (when treatments.csv is given).
    grouping : {"three", "control", "response"}
        How response scales are grouped (imaging and clinical response scales).
    notes : list of str, optional
        Receives a note for each covariate left out of the default set.

    Returns
    -------
    dict of Predictor
    """
    if grouping not in GROUPINGS:
        raise PredictorError(
            f"unknown grouping {grouping!r} (expected one of {', '.join(GROUPINGS)})"
        )
    index = inputs.clinical.index
    available: list[str] = []
    if inputs.responses is not None:
        available.append(IMAGING)
    available += list(inputs.covariates)
    if inputs.treatments is not None and TREATMENTS not in available:
        available.append(TREATMENTS)
    has_tgr = inputs.responses is not None and "tgr_pct_month" in inputs.responses.columns
    skipped: list[str] = []
    if names is None:
        # By default, leave out free-text-like columns (too many levels for a model).
        names = []
        for n in available:
            cov = inputs.covariates.get(n)
            n_levels = 0 if cov is None else cov.values.nunique()
            present = 0 if cov is None else int(cov.values.notna().sum())
            if (
                cov is not None
                and not cov.numeric
                and (n_levels > MAX_DEFAULT_LEVELS or present == 0 or n_levels == present > 2)
            ):
                skipped.append(n)
            else:
                names.append(n)
    if has_tgr and TGR not in available:
        available.append(TGR)  # only when asked for by name (not in the default set)
    for n in names:
        if n not in available:
            raise PredictorError(
                f"unknown predictor {n!r} (available: {', '.join(available) or 'none'})"
            )
    if not names:
        raise PredictorError("no predictor to analyse (give covariates or patients.csv)")

    if skipped and notes is not None:
        notes.append(
            f"left out by default (empty, one level per patient, or more than "
            f"{MAX_DEFAULT_LEVELS} levels; "
            f"ask with --predictor): {', '.join(skipped)}"
        )
    out: dict[str, Predictor] = {}
    for n in dict.fromkeys(names):
        if n == IMAGING:
            r = inputs.responses
            values = group_responses(r["first_followup_response"], grouping).reindex(index)
            known = r["first_followup_days"].reindex(index)
            out[n] = Predictor(n, "categorical", values, GROUPINGS[grouping][1], known)
        elif n == TGR and has_tgr and n not in inputs.covariates:
            r = inputs.responses
            tgr = r["tgr_pct_month"].reindex(index)
            hi, lo = f"TGR >= {tgr_cutoff:g} %/month", f"TGR < {tgr_cutoff:g} %/month"
            values = pd.Series(np.where(tgr >= tgr_cutoff, hi, lo), index=index, dtype=object)
            values[tgr.isna()] = np.nan
            known = r["first_followup_days"].reindex(index)
            pred = Predictor(n, "categorical", values, (lo, hi), known)
            pred.notes.append(
                f"tgr: tumour growth rate baseline -> first follow-up, split at {tgr_cutoff:g} "
                "%/month (GREPONET); known from the first follow-up scan"
            )
            out[n] = pred
        elif n == TREATMENTS and inputs.treatments is not None:
            ev = inputs.treatments[["patient_id", "days"]]
            total = ev.groupby("patient_id").size().reindex(index, fill_value=0).astype(float)
            pred = Predictor(n, "count", total, event_days=ev)
            if (total == 0).any():
                pred.notes.append(
                    f"{int((total == 0).sum())} patient(s) have no row in treatments.csv (count 0)"
                )
            out[n] = pred
        else:
            cov = inputs.covariates[n]
            if cov.numeric:
                kind = "count" if n == TREATMENTS else "numeric"
                pred = Predictor(n, kind, cov.values.astype(float))
                if n == TREATMENTS:
                    pred.notes.append(
                        "n_treatments has no dates (no treatments.csv): it is used as a "
                        "baseline value in the landmark and time-varying analyses, where "
                        "its guarantee-time bias remains"
                    )
                out[n] = pred
            else:
                values, levels = _categorical(n, cov.values, grouping)
                out[n] = Predictor(n, "categorical", values, levels, cov.known_days)
    return out


def km_groups(pred: Predictor, values: pd.Series) -> tuple[pd.Series, tuple[str, ...]]:
    """Kaplan–Meier groups of a predictor: its levels, or a split of a number.

    A count is split 1 vs > 1 (as the study compared single and multiple
    treatments); a two-valued number by value; another number at its median.
    """
    if pred.kind == "categorical":
        present = tuple(lv for lv in pred.levels if (values == lv).any())
        return values, present
    v = values.astype(float)
    distinct = np.unique(v[v.notna()])
    if pred.kind != "count" and len(distinct) <= 2:
        # A 0/1 (or two-valued) number: one group per value, the larger first.
        labels = v.map(lambda x: x if np.isnan(x) else f"{x:g}").astype(object)
        return labels, tuple(f"{x:g}" for x in distinct[::-1])
    cut = 1.0 if pred.kind == "count" else float(np.nanmedian(v))
    text = f"{cut:g}"
    hi_mask = v > cut
    if pred.kind != "count" and not hi_mask.any():
        # The median is the largest value: split below it instead.
        lo, hi = (f"< {text}", f">= {text}")
        hi_mask = v >= cut
    else:
        lo, hi = (f"<= {text}", f"> {text}")
    labels = pd.Series(np.where(hi_mask, hi, lo), index=v.index, dtype=object)
    labels[v.isna()] = np.nan
    return labels, tuple(lv for lv in (hi, lo) if (labels == lv).any())


def design(pred: Predictor, values: pd.Series) -> pd.DataFrame:
    """Cox design columns: dummies vs the reference level, or the number itself.

    Dummies are named ``"<predictor>: <level> vs <reference>"``. When the reference
    level does not occur in ``values`` (e.g. no progression left after a landmark),
    the last level that does occur is the reference.
    """
    if pred.kind != "categorical":
        return pd.DataFrame({pred.name: values.astype(float)})
    present = [lv for lv in pred.levels if (values == lv).any()]
    cols = {}
    if len(present) >= 2:
        ref = pred.reference if pred.reference in present else present[-1]
        for lv in present:
            if lv == ref:
                continue
            col = (values == lv).astype(float)
            col[values.isna()] = np.nan
            cols[f"{pred.name}: {lv} vs {ref}"] = col
    return pd.DataFrame(cols, index=values.index)
