"""The public RECIST 1.1 evaluation: an annotation table in, result tables out."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recist_tool import __version__
from recist_tool.annotations import (
    Measurement,
    check_annotations,
    check_measurements,
    is_checked,
)
from recist_tool.response import _reason
from recist_tool.response._best import PFS_REASONS, PatientResult, Sequence, best_response
from recist_tool.response._prepare import (
    TARGET,
    Prepared,
    U,
    prepare,
    resolve_reference,
    text_column,
    units,
)
from recist_tool.response._timepoint import (
    RESPONSE_NAMES,
    TimepointResult,
    apply_hold,
    evaluate_timepoints,
)
from recist_tool.response.display import exact_pct, mm_text, pct_text, rounded_pct
from recist_tool.response.messages import MESSAGE_COLUMNS, validation_messages
from recist_tool.response.settings import ResponseSettings

TIMEPOINT_COLUMNS = (
    "patient_id",
    "timepoint",
    "date",
    "days_from_baseline",
    "days_from_reference",
    "sum_mm",
    "nadir_mm",
    "change_from_baseline_pct",
    "change_from_nadir_pct",
    "target_response",
    "target_response_strict",
    "non_target_response",
    "new_lesions",
    "overall_response",
    "reason",
)
PATIENT_COLUMNS = (
    "patient_id",
    "reference_date",
    "baseline_date",
    "n_targets",
    "baseline_sum_mm",
    "best_overall_response",
    "best_response_date",
    "best_change_pct",
    "confirmed_best_overall_response",
    "response_date",
    "first_followup_date",
    "first_followup_response",
    "progression_date",
    "pfs_days",
    "pfs_event",
    "pfs_censoring",
    "dor_days",
    "dor_event",
    "ttr_days",
    "ttr_event",
    "clinical_benefit",
    "tgr_pre_pct_month",
    "tgr_pct_month",
)
#: The reference date of each patient: ``reference_date`` column values.
REFERENCE_KINDS = np.array(["baseline scan", "treatment_date", "randomisation_date"], object)
#: Days per month in TGR (and everywhere months are shown): 365.25 / 12.
DAYS_PER_MONTH = 30.4375


@dataclass
class Evaluation:
    """Result of :func:`evaluate`.

    Attributes
    ----------
    timepoints : pandas.DataFrame
        One row per patient and time point (columns :data:`TIMEPOINT_COLUMNS`, then
        those of the further criteria asked for). Sums are exact decimals in mm;
        percentages are the **display values** (0.1 %, never rounded across a
        response threshold: :mod:`recist_tool.response.display`); responses are
        ``CR``, ``PR``, ``SD``, ``PD``, ``NE``, ``NON-CR/NON-PD`` or empty where the
        patient has no lesion of that kind (and at baseline); ``reason`` names the
        rule that decided the overall response.
    patients : pandas.DataFrame
        One row per patient (columns :data:`PATIENT_COLUMNS` and further criteria).
    messages : pandas.DataFrame
        Validation warnings and errors (columns :data:`MESSAGE_COLUMNS`).
    target_sizes : pandas.DataFrame
        What each target counts in the sum at each time point (see the property).
    settings : ResponseSettings
        The settings used.
    run : dict
        What the run resolved (reference date column, visit interval, criteria).
    """

    timepoints: pd.DataFrame
    patients: pd.DataFrame
    messages: pd.DataFrame
    settings: ResponseSettings
    _exact: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _target_sizes: Callable[[], pd.DataFrame] | None = field(default=None, repr=False)
    run: dict = field(default_factory=dict)

    @functools.cached_property
    def target_sizes(self) -> pd.DataFrame:
        """What each target lesion contributes to the sum at each time point.

        Columns ``patient_id, timepoint, lesion_id, counted_mm`` (NaN when not
        evaluated): its diameter, 5 mm when too small, 0 when disappeared (a node
        keeps its short axis), fragments added, after the rounding setting; then
        the lesion's own ``baseline_mm``, ``change_from_baseline_pct``, ``nadir_mm``
        (smallest earlier evaluated value) and ``change_from_nadir_pct`` (display
        values). Built on first use (a batch run does not need it).
        """
        if self._target_sizes is None:
            return pd.DataFrame(columns=list(TARGET_SIZE_COLUMNS))
        return self._target_sizes()

    def exact_pct(self, column: str) -> np.ndarray:
        """The unrounded values of a percentage column of :attr:`timepoints`
        (``change_from_baseline_pct``, ``change_from_nadir_pct``) or of
        :attr:`patients` (``best_change_pct``)."""
        num, ref = _PCT_COLUMNS[column]
        return exact_pct(self._exact[num], self._exact[ref])

    def display_timepoints(self) -> pd.DataFrame:
        """The per time point table as the texts to show (plugin, reports).

        Columns ``patient_id, timepoint, date, sum, change_from_baseline,
        change_from_nadir, target_response, non_target_response, new_lesions,
        overall_response, reason``: sizes ``"27.0 mm"``, changes ``"-29.9 %"``
        (display values), dates ``YYYY-MM-DD``; empty where there is none.
        """
        tp = self.timepoints
        dates = tp["date"].to_numpy().astype("datetime64[D]").astype(str)
        dates = np.where(dates == "NaT", "", dates)
        return pd.DataFrame(
            {
                "patient_id": tp["patient_id"].astype(str).to_numpy(),
                "timepoint": tp["timepoint"].astype(str).to_numpy(),
                "date": dates,
                "sum": mm_text(tp["sum_mm"].to_numpy(dtype=float)),
                "change_from_baseline": pct_text(
                    tp["change_from_baseline_pct"].to_numpy(dtype=float)
                ),
                "change_from_nadir": pct_text(tp["change_from_nadir_pct"].to_numpy(dtype=float)),
                **{
                    c: tp[c].astype(str).to_numpy()
                    for c in (
                        "target_response",
                        "non_target_response",
                        "new_lesions",
                        "overall_response",
                        "reason",
                    )
                },
            }
        )

    @functools.cached_property
    def endpoints(self) -> pd.DataFrame:
        """Trial endpoints (ORR, DCR, CBR, DoR, TTR, PFS): see
        :func:`recist_tool.response.endpoints.trial_endpoints`."""
        from recist_tool.response.endpoints import trial_endpoints

        return trial_endpoints(self.patients, self.settings)

    @property
    def has_errors(self) -> bool:
        """Whether any message is an error (strict mode, or input left out by keep-going)."""
        return bool((self.messages["severity"] == "error").any())

    def output_tables(self) -> dict[str, pd.DataFrame]:
        """The per-patient tables as they are written: ``timepoints``, ``patients``,
        ``messages``.

        The tables themselves: their percentages are already the display values, so
        nothing is rounded on the way out. ``endpoints`` is a cohort table (see
        :attr:`endpoints`), written beside them.
        """
        return {"timepoints": self.timepoints, "patients": self.patients, "messages": self.messages}

    def write(self, outdir: str | os.PathLike, fmt: str = "csv") -> dict[str, Path]:
        """Write ``timepoints``, ``patients``, ``messages``, ``endpoints`` (``.csv`` or
        ``.parquet``) and ``settings.json``.

        The values are those of the tables (display values: nothing is rounded here).
        The files are renamed into place together once all are written (see
        :mod:`recist_tool.output`), by the same writer as ``recist-tool batch``.
        """
        from recist_tool.output import ResultWriter

        with ResultWriter(outdir, self.settings_document(), fmt) as writer:
            writer.append({**self.output_tables(), "endpoints": self.endpoints})
        return writer.paths

    def settings_document(self) -> dict:
        """What ``settings.json`` holds: software, criteria, settings, conventions."""
        return {
            "software": "recist-tool",
            "version": __version__,
            "criteria": ", ".join(_CRITERIA_NAMES[c] for c in self.settings.criteria),
            "settings": self.settings.to_dict(),
            "resolved": dict(self.run),
            "conventions": dict(CONVENTIONS),
        }


_CRITERIA_NAMES = {"recist": "RECIST 1.1", "irecist": "iRECIST", "choi": "Choi"}
#: Named conventions where the sources are silent (written to settings.json).
CONVENTIONS = {
    "faq_pr_hold": "once PR, PR until PD (working-group FAQ) unless strict_pr; under "
    "confirm only after the confirming time point",
    "reappearance": "a lesion reappearing is PD when the last non-NE overall response was CR",
    "late_non_target": "a non-target first recorded at follow-up is a new lesion unless "
    "baseline_incomplete",
    "confirmation": "admiralonco derive_param_confirmed_bor (max_ne, accept_sd, no PR after "
    "CR in the confirmation period)",
    "display_rounding": "percentages to 0.1 half away from zero, never across a response "
    "threshold (-30, -15, -10, +10, +20 %)",
    "pfs_censoring": "event = first PD (back-dated for confirmed equivocal findings) or death; "
    "censored at the last adequate assessment when the event follows >= max_missed missed "
    "assessments (an assessment is missed when none occurs within half an interval of its "
    "scheduled day)",
    "dor": "from the first (confirmed) CR/PR to the PFS event, same censoring",
    "ttr": "from the reference date to the first (confirmed) CR/PR; non-responders "
    "censored at their PFS end",
    "clinical_benefit": "CR or PR, or an SD-level response at >= cbr_min_days after the "
    "reference date before PD",
    "tgr": "100 x (exp(3 ln(S1/S0) / t) - 1) %/month, t in months of 30.4375 days; "
    "baseline -> first follow-up, and pre -> baseline",
    "choi": "PR: SOD -10 % from baseline or mean density -15 % from baseline; PD: SOD +10 % "
    "from nadir without the density PR criterion, new lesion or non-target PD; density = "
    "mean of the targets' mean_hu",
    "irecist": "Seymour 2017; iUPD stays until confirmed (iCPD) or until iSD/iPR/iCR "
    "resets it; see docs/recist.md",
}
TARGET_SIZE_COLUMNS = (
    "patient_id",
    "timepoint",
    "lesion_id",
    "counted_mm",
    "baseline_mm",
    "change_from_baseline_mm",
    "change_from_baseline_pct",
    "nadir_mm",
    "change_from_nadir_pct",
)
_PCT_COLUMNS = {
    # column -> (numerator, reference) in exact units
    "change_from_baseline_pct": ("_sum_u", "_baseline_u"),
    "change_from_nadir_pct": ("_sum_u", "_nadir_u"),
    "best_change_pct": ("_best_u", "_pbase_u"),
}


def evaluate(
    data: pd.DataFrame | list[Measurement],
    settings: ResponseSettings | None = None,
    clinical: pd.DataFrame | None = None,
    keep_going: bool = False,
) -> Evaluation:
    """Evaluate RECIST 1.1 (and iRECIST, Choi) response for every patient of a table.

    Parameters
    ----------
    data : DataFrame or list of Measurement
        Annotation rows (as from :func:`recist_tool.annotations.read_annotations`,
        any table with the annotation columns, or :class:`Measurement` records).
    settings : ResponseSettings, optional
        Conventions; the defaults follow RECIST 1.1 and its FAQ.
    clinical : DataFrame, optional
        Per patient ``death`` (0/1) and ``last_contact_date`` (the date of death when
        ``death`` is 1), and optionally ``treatment_date``, indexed by or with a
        column ``patient_id`` (as :func:`recist_tool.survival.inputs.read_clinical`
        returns): death becomes a PFS event.
    keep_going : bool
        A patient with an input error is left out and listed in the messages
        (severity ``error``) instead of stopping the whole evaluation.

    Returns
    -------
    Evaluation
        Per time point and per patient results, and validation messages.

    Raises
    ------
    recist_tool.errors.AnnotationError
        When the table is malformed (naming the row and column).

    Examples
    --------
    >>> from recist_tool.annotations import Measurement
    >>> rows = [
    ...     Measurement("P1", "baseline", "2024-01-02", "L1", "target", "liver",
    ...                 long_axis_mm=33.3),
    ...     Measurement("P1", "3mo", "2024-04-02", "L1", "target", "liver",
    ...                 long_axis_mm=23.31),
    ... ]
    >>> evaluate(rows).timepoints["overall_response"].tolist()
    ['', 'PR']
    """
    settings = settings or ResponseSettings()
    problems = []
    if not isinstance(data, pd.DataFrame):
        data = check_measurements(data)
    elif not is_checked(data):
        data = check_annotations(data)
    problems = list(data.attrs.get("input_problems", []))
    data, pre = _split_pre(data)
    prep = _prepare(data, keep_going, problems)
    run: dict = {"criteria": list(settings.criteria)}
    ref_col = _reference(prep, settings, clinical)
    run["reference_date"] = ref_col
    messages = validation_messages(prep, settings)
    tps = evaluate_timepoints(prep, settings)
    seq = _sequence(prep, tps)
    death = _death_days(prep, clinical)
    pts = best_response(seq, settings, death, tps.sod, tps.full & (tps.n_targets > 0))
    if settings.confirm and not settings.strict_pr:
        apply_hold(prep, tps, pts.confirmed_at)
    if settings.confirm:
        cbor = pts.best
    else:  # the confirmed BOR is always published (ADaM CBOR)
        from dataclasses import replace

        cbor = best_response(seq, replace(settings, confirm=True), death).best
    run["visit_interval_days"] = (
        settings.visit_interval_days
        if settings.visit_interval_days is not None
        else "per patient: median gap between its adequate assessments"
    )
    run["death_dates"] = clinical is not None
    if settings.strict and len(messages):
        _blank_errors(prep, tps, pts, messages)
    reason = _timepoint_reasons(prep, tps, messages, settings)
    extra: dict = {}
    if "irecist" in settings.criteria:
        from recist_tool.response._irecist import evaluate_irecist

        extra["irecist"] = evaluate_irecist(prep, tps, seq, settings, reason)
    if "choi" in settings.criteria:
        from recist_tool.response._choi import evaluate_choi

        extra["choi"] = evaluate_choi(prep, tps, seq, settings)
    messages = _with_problems(messages, problems, prep)
    if settings.strict and len(messages):
        cbor = np.where(pts.best == 0, 0, cbor)
    run["_cbor"] = cbor
    return _tables(prep, tps, pts, messages, settings, run, pre, extra, reason)


def _timepoint_reasons(
    prep: Prepared, tps: TimepointResult, messages: pd.DataFrame, settings: ResponseSettings
) -> pa.Array:
    has_t = tps.n_targets > 0
    follow = prep.tp_rank > 0
    sum_u = np.where(has_t & tps.full, tps.sod, -1)
    base_pct = rounded_pct(sum_u, np.where(has_t & follow & tps.full, tps.baseline_sod, -1))
    # PD on a partial sum shows the change of the evaluated sum
    nadir_pct = rounded_pct(
        np.where(has_t & follow, tps.sod, -1), np.where(has_t & follow, tps.nadir, -1)
    )
    reason = _reason.reasons(prep, tps, base_pct, nadir_pct)
    if settings.strict and (messages["severity"] == "error").any():
        bad = np.isin(prep.patient_ids, messages.loc[messages["severity"] == "error", "patient_id"])
        reason = pc.if_else(
            pa.array(bad[prep.tp_patient]), "not evaluated: baseline rule errors", reason
        )
    return reason


def _split_pre(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Rows of pre-treatment scans (time point label ``pre``) go to TGR only."""
    col = data["timepoint"]
    cats = col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else col.unique()
    if not any(str(c).strip().lower() == PRE_LABEL for c in cats):
        return data, None
    is_pre = (col.astype(str).str.strip().str.lower() == PRE_LABEL).to_numpy()
    main = data[~is_pre]
    main.attrs = dict(data.attrs)
    return main, data[is_pre]


#: Time point label of a pre-treatment scan (used for the pre-treatment TGR only).
PRE_LABEL = "pre"


def _prepare(data: pd.DataFrame, keep_going: bool, problems: list) -> Prepared:
    """``prepare``; with keep-going, patients with structural errors are left out."""
    from recist_tool.annotations import InputProblem
    from recist_tool.errors import AnnotationError

    while True:
        try:
            prep = prepare(data)
            if keep_going:
                _patient_columns_checked(prep)
            return prep
        except AnnotationError as exc:
            if not keep_going or not exc.problems:
                raise
            ids = text_column(data, "patient_id")
            bad = {ids[r] for r, *_ in exc.problems}
            for r, source, line, column, value, what in exc.problems:
                problems.append(InputProblem(source, line, column, value, what, ids[r]))
            keep = ~np.isin(ids, list(bad))
            attrs = dict(data.attrs)
            data = data[keep]
            data.attrs = attrs


def _patient_columns_checked(prep: Prepared) -> None:
    """Nothing more to check: ``prepare`` checks the optional columns itself."""


def _reference(prep: Prepared, settings: ResponseSettings, clinical) -> str:
    """Resolve the reference date per patient (the annotation columns, else clinical)."""
    used = resolve_reference(prep, settings.reference_date)
    if (
        used == "baseline"
        and clinical is not None
        and settings.reference_date
        in (
            "auto",
            "treatment_date",
        )
    ):
        clin = _clinical_frame(clinical)
        if "treatment_date" in clin.columns:
            t = pd.to_datetime(clin["treatment_date"], errors="coerce")
            t = t.reindex(pd.Index(prep.patient_ids.astype(str)))
            ok = t.notna().to_numpy()
            days = t.to_numpy().astype("datetime64[D]").astype(np.int64)
            prep.ref_day = np.where(ok, days, prep.ref_day)
            prep.ref_kind = np.where(ok, 1, prep.ref_kind).astype(np.int8)
            used = "treatment_date (clinical)"
    return used


def _clinical_frame(clinical: pd.DataFrame) -> pd.DataFrame:
    c = clinical
    if "patient_id" in c.columns:
        c = c.set_index(c["patient_id"].astype(str))
    c.index = c.index.astype(str)
    return c


def _death_days(prep: Prepared, clinical) -> np.ndarray | None:
    """Per patient, day of death from the reference date (``_BIG`` when none)."""
    if clinical is None:
        return None
    c = _clinical_frame(clinical)
    ids = pd.Index(prep.patient_ids.astype(str))
    death = pd.to_numeric(c["death"], errors="coerce").reindex(ids).fillna(0).to_numpy() == 1
    when = pd.to_datetime(c["last_contact_date"], errors="coerce").reindex(ids)
    ok = death & when.notna().to_numpy()
    days = when.to_numpy().astype("datetime64[D]").astype(np.int64)
    return np.where(ok, days - prep.ref_day, np.iinfo(np.int64).max)


def _sequence(prep: Prepared, tps: TimepointResult) -> Sequence:
    return Sequence(
        tp_patient=prep.tp_patient,
        tp_start=prep.tp_start,
        tp_count=prep.tp_count,
        tp_rank=prep.tp_rank,
        overall=tps.overall,
        overall_strict=tps.overall_strict,
        days=prep.tp_date - prep.ref_day[prep.tp_patient] if prep.n_tp else prep.tp_date,
        has_targets=tps.n_targets > 0,
        backdated_rank=tps.backdated_rank,
    )


def _with_problems(messages: pd.DataFrame, problems: list, prep: Prepared) -> pd.DataFrame:
    """Messages plus input problems (keep-going) as errors naming file, line, column, value.

    Rows are in patient order (the order of the result tables; problems of the input
    as a whole, with no patient, first) and, for one patient, its input problems
    before the engine's messages: the order does not depend on how a cohort is cut
    into chunks.
    """
    for col in ("file", "line", "column", "value"):
        if col not in messages.columns:
            messages[col] = "" if col != "line" else pd.array([None] * len(messages), "Int64")
    if not problems:
        return messages
    both = pd.concat([problem_messages(problems), messages], ignore_index=True)
    ids = both["patient_id"].astype(str).to_numpy().astype(str)  # code point order
    return both.iloc[np.argsort(ids, kind="stable")].reset_index(drop=True)


def problem_messages(problems: list) -> pd.DataFrame:
    """Input problems (:class:`recist_tool.annotations.InputProblem`) as message rows:
    severity ``error``, rule ``input_error``, with file, line, column and value."""
    return pd.DataFrame(
        {
            "patient_id": [p.patient_id for p in problems],
            "timepoint": "",
            "lesion_id": "",
            "severity": "error",
            "rule": "input_error",
            "message": ["left out: " + p.message for p in problems],
            "file": [p.file for p in problems],
            "line": pd.array([p.line for p in problems], dtype="Int64"),
            "column": [p.column for p in problems],
            "value": [p.value for p in problems],
        },
        columns=list(MESSAGE_COLUMNS),
    )


def _blank_errors(
    prep: Prepared, tps: TimepointResult, pts: PatientResult, messages: pd.DataFrame
) -> None:
    """Strict mode: a patient with an error is not evaluated (responses left empty)."""
    bad_ids = messages.loc[messages["severity"] == "error", "patient_id"].unique()
    bad = np.isin(prep.patient_ids, bad_ids)
    at_tp = bad[prep.tp_patient]
    for arr in (tps.target, tps.target_strict, tps.non_target, tps.overall):
        arr[at_tp] = 0
    pts.best[bad] = 0
    pts.best_tp[bad] = -1
    pts.response_tp[bad] = -1
    pts.progression_tp[bad] = -1
    pts.pfs_event[bad] = -1
    pts.dor_event[bad] = -1
    pts.ttr_event[bad] = -1
    pts.clinical_benefit[bad] = False


def _tgr(prep: Prepared, tps: TimepointResult, pre: pd.DataFrame | None):
    """Tumour growth rate (%/month): baseline -> first follow-up, and pre -> baseline."""
    n_pat = prep.n_patients
    base = prep.tp_start
    first = prep.tp_start + 1
    has_fu = prep.tp_count > 1
    firstc = np.where(has_fu, first, base)
    s0 = tps.sod[base] if prep.n_tp else np.zeros(0, np.int64)
    ok0 = (tps.n_targets[base] > 0) & tps.full[base] & (s0 > 0) if prep.n_tp else s0 > 0
    s1 = tps.sod[firstc] if prep.n_tp else s0
    ok1 = ok0 & has_fu & tps.full[firstc] if prep.n_tp else ok0
    dt = (prep.tp_date[firstc] - prep.tp_date[base]) if prep.n_tp else s0
    tgr = _tgr_formula(s0, s1, dt, ok1 & (dt > 0))
    tgr_pre = np.full(n_pat, np.nan)
    if pre is not None and len(pre) and prep.n_tp:
        pid = text_column(pre, "patient_id")
        les = text_column(pre, "lesion_id")
        nodal = pre["nodal"].to_numpy(dtype=bool)
        la = units(pre["long_axis_mm"].to_numpy(dtype=np.float64))
        sa = units(pre["short_axis_mm"].to_numpy(dtype=np.float64))
        st = text_column(pre, "status")
        size = np.where(nodal, sa, la)
        size = np.where(st == "too_small", FIVE_MM_U, np.where(st == "disappeared", 0, size))
        day = _days_of(pre)
        # baseline targets of each patient, and their pre sizes
        tgt = np.flatnonzero(prep.les_kind == TARGET)
        key_t = pd.MultiIndex.from_arrays(
            [prep.patient_ids[prep.les_patient[tgt]].astype(str), prep.les_label[tgt].astype(str)]
        )
        pre_key = pd.MultiIndex.from_arrays([pid.astype(str), les.astype(str)])
        sizes = pd.Series(size, index=pre_key)
        sizes = sizes[~sizes.index.duplicated()]
        got = sizes.reindex(key_t).to_numpy(dtype=float)
        p_of_t = prep.les_patient[tgt]
        missing = np.bincount(p_of_t, weights=(np.isnan(got) | (got < 0)), minlength=n_pat) > 0
        s_pre = np.bincount(p_of_t, weights=np.nan_to_num(got), minlength=n_pat)
        s_pre = np.rint(s_pre).astype(np.int64)
        pday = pd.Series(day).groupby(pid.astype(str)).min()
        pday = pday.reindex(prep.patient_ids.astype(str)).to_numpy(dtype=float)
        has = ~np.isnan(pday) & ~missing & ok0 & (s_pre > 0)
        dtp = np.where(has, prep.tp_date[base] - np.nan_to_num(pday), 0).astype(np.int64)
        tgr_pre = _tgr_formula(s_pre, s0, dtp, has & (dtp > 0))
    return tgr_pre, tgr


FIVE_MM_U = 5 * U


def _days_of(frame: pd.DataFrame) -> np.ndarray:
    return frame["date"].to_numpy().astype("datetime64[D]").astype(np.int64)


def _tgr_formula(s0, s1, days, ok) -> np.ndarray:
    """TGR = 100 x (exp(3 ln(S1/S0) / t) - 1), t in months; rounded to 0.01 %/month."""
    out = np.full(len(s0), np.nan)
    if not ok.any():
        return out
    months = days[ok] / DAYS_PER_MONTH
    with np.errstate(divide="ignore"):
        ratio = np.log(s1[ok].astype(float) / s0[ok].astype(float))
    out[ok] = 100.0 * (np.exp(3.0 * ratio / months) - 1.0)
    return np.round(out, 2)


def _tables(
    prep: Prepared,
    tps: TimepointResult,
    pts: PatientResult,
    messages: pd.DataFrame,
    settings: ResponseSettings,
    run: dict,
    pre: pd.DataFrame | None,
    extra: dict,
    reason: pa.Array,
) -> Evaluation:
    pat = prep.tp_patient
    has_t = tps.n_targets > 0
    follow = prep.tp_rank > 0
    sum_ok = has_t & tps.full
    sum_u = np.where(sum_ok, tps.sod, -1)
    base_u = np.where(has_t & follow & sum_ok, tps.baseline_sod, -1)
    nadir_u = np.where(has_t & follow & sum_ok, tps.nadir, -1)
    dates = prep.tp_date.astype("datetime64[D]")
    days = prep.tp_date - prep.tp_date[prep.tp_start][pat]
    ref_days = prep.tp_date - prep.ref_day[pat] if prep.n_tp else days
    new = np.where(
        tps.new_unequivocal > 0, "yes", np.where(tps.new_equivocal > 0, "equivocal", "no")
    ).astype(object)
    base_pct = rounded_pct(sum_u, base_u)
    nadir_pct = rounded_pct(sum_u, nadir_u)
    timepoints = pd.DataFrame(
        {
            "patient_id": pd.Categorical.from_codes(pat, prep.patient_ids),
            "timepoint": _categorical(prep.tp_label),
            "date": dates,
            "days_from_baseline": days,
            "days_from_reference": ref_days,
            "sum_mm": _mm(sum_u),
            "nadir_mm": _mm(np.where(has_t & follow, tps.nadir, -1)),
            "change_from_baseline_pct": base_pct,
            "change_from_nadir_pct": nadir_pct,
            "target_response": _responses(tps.target),
            "target_response_strict": _responses(tps.target_strict),
            "non_target_response": _responses(tps.non_target),
            "new_lesions": _categorical(np.where(follow, new, "")),
            "overall_response": _responses(tps.overall),
            "reason": pd.Series(reason, dtype=pd.ArrowDtype(pa.string())),
        },
        copy=False,
    )

    base_tp = prep.tp_start
    n_targets = tps.n_targets[base_tp] if prep.n_tp else np.zeros(0, np.int64)
    p_has_t = n_targets > 0
    baseline_u = np.where(p_has_t, tps.sod[base_tp], -1)
    best_u = np.where(pts.best_sod_tp >= 0, tps.sod[np.maximum(pts.best_sod_tp, 0)], -1)
    pbase_u = np.where(pts.best_sod_tp >= 0, baseline_u, -1)
    first_resp = np.where(
        pts.first_followup_tp >= 0,
        RESPONSE_NAMES[tps.overall[np.maximum(pts.first_followup_tp, 0)]],
        "",
    ).astype(object)
    evaluated = pts.pfs_event >= 0
    tgr_pre, tgr = _tgr(prep, tps, pre)

    def opt_int(values: np.ndarray, ok: np.ndarray) -> pd.arrays.IntegerArray:
        return pd.arrays.IntegerArray(np.where(ok, values, 0).astype(np.int64), ~ok)

    responder = pts.dor_event >= 0
    ref_dates = prep.ref_day.astype("datetime64[D]") if prep.n_patients else dates[:0]
    patients = pd.DataFrame(
        {
            "patient_id": prep.patient_ids,
            "reference_date": ref_dates,
            "baseline_date": dates[base_tp],
            "n_targets": n_targets,
            "baseline_sum_mm": _mm(baseline_u),
            "best_overall_response": RESPONSE_NAMES[pts.best],
            "best_response_date": _date_at(pts.best_tp, dates),
            "best_change_pct": rounded_pct(best_u, pbase_u),
            "confirmed_best_overall_response": RESPONSE_NAMES[run.pop("_cbor")],
            "response_date": _date_at(pts.response_tp, dates),
            "first_followup_date": _date_at(pts.first_followup_tp, dates),
            "first_followup_response": first_resp,
            "progression_date": _date_at(pts.progression_tp, dates),
            "pfs_days": opt_int(pts.pfs_days, evaluated),
            "pfs_event": opt_int(pts.pfs_event, evaluated),
            "pfs_censoring": np.where(evaluated, PFS_REASONS[pts.pfs_reason], "").astype(object),
            "dor_days": opt_int(pts.dor_days, responder),
            "dor_event": opt_int(pts.dor_event, responder),
            "ttr_days": opt_int(pts.ttr_days, evaluated),
            "ttr_event": opt_int(pts.ttr_event, evaluated),
            "clinical_benefit": opt_int(pts.clinical_benefit.astype(np.int64), evaluated),
            "tgr_pre_pct_month": tgr_pre,
            "tgr_pct_month": tgr,
        },
        copy=False,
    )
    exact = {
        "_sum_u": sum_u,
        "_baseline_u": base_u,
        "_nadir_u": nadir_u,
        "_best_u": best_u,
        "_pbase_u": pbase_u,
    }
    for name, crit in extra.items():
        for col, values in crit.timepoint_columns.items():
            timepoints[col] = values
        for col, values in crit.patient_columns.items():
            patients[col] = values
        run[name] = crit.run

    def target_sizes() -> pd.DataFrame:
        return _target_size_table(prep, tps)

    return Evaluation(
        timepoints,
        patients,
        messages[list(MESSAGE_COLUMNS)],
        settings,
        exact,
        target_sizes,
        run,
    )


def _target_size_table(prep: Prepared, tps: TimepointResult) -> pd.DataFrame:
    """Per target and time point: counted size, and the lesion's own changes."""
    pat = prep.tp_patient
    value = np.where(tps.cell_ne, -1, tps.cell_value)
    lesion = tps.cell_lesion
    rank = prep.tp_rank[tps.cell_tp]
    base = pd.Series(np.where(rank == 0, value, -1)).groupby(lesion).transform("max")
    base = base.to_numpy()
    big = np.iinfo(np.int64).max
    ok = np.where(value >= 0, value, big)
    cm = pd.Series(ok).groupby(lesion).cummin().to_numpy()
    prev = np.empty_like(cm)
    prev[1:] = cm[:-1]
    prev[rank == 0] = big
    nadir = np.where(prev == big, -1, prev)
    follow = rank > 0
    return pd.DataFrame(
        {
            "patient_id": pd.Categorical.from_codes(pat[tps.cell_tp], prep.patient_ids),
            "timepoint": _categorical(prep.tp_label)[tps.cell_tp],
            "lesion_id": _categorical(prep.les_label)[lesion],
            "counted_mm": _mm(value),
            "baseline_mm": _mm(base),
            "change_from_baseline_mm": np.where(
                follow & (value >= 0) & (base >= 0), (value - base) / U, np.nan
            ),
            "change_from_baseline_pct": rounded_pct(
                np.where(follow, value, -1), np.where(follow, base, -1)
            ),
            "nadir_mm": _mm(np.where(follow, nadir, -1)),
            "change_from_nadir_pct": rounded_pct(
                np.where(follow, value, -1), np.where(follow, nadir, -1)
            ),
        },
        copy=False,
    )


def _date_at(tp_index: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """The date of a time point per patient; NaT where the index is -1 (none)."""
    out = np.full(len(tp_index), np.datetime64("NaT", "D"))
    ok = tp_index >= 0
    out[ok] = dates[tp_index[ok]]
    return out


def _responses(codes: np.ndarray) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, RESPONSE_NAMES)


def _categorical(values: np.ndarray) -> pd.Categorical:
    codes, uniques = pd.factorize(values)
    return pd.Categorical.from_codes(codes, uniques)


def _mm(u: np.ndarray) -> np.ndarray:
    """Exact units to mm (float; NaN where -1). The nearest double prints as the decimal."""
    return np.where(u >= 0, u / U, np.nan)
