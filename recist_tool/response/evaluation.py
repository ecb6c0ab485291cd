"""The public RECIST 1.1 evaluation: an annotation table in, result tables out."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recist_tool import __version__
from recist_tool.annotations import (
    Measurement,
    check_annotations,
    check_measurements,
    is_checked,
)
from recist_tool.response._best import PatientResult, best_response
from recist_tool.response._prepare import Prepared, U, prepare
from recist_tool.response._timepoint import RESPONSE_NAMES, TimepointResult, evaluate_timepoints
from recist_tool.response.messages import MESSAGE_COLUMNS, validation_messages
from recist_tool.response.settings import ResponseSettings

TIMEPOINT_COLUMNS = (
    "patient_id",
    "timepoint",
    "date",
    "days_from_baseline",
    "sum_mm",
    "nadir_mm",
    "change_from_baseline_pct",
    "change_from_nadir_pct",
    "target_response",
    "non_target_response",
    "new_lesions",
    "overall_response",
)
PATIENT_COLUMNS = (
    "patient_id",
    "baseline_date",
    "n_targets",
    "baseline_sum_mm",
    "best_overall_response",
    "best_response_date",
    "best_change_pct",
    "first_followup_date",
    "first_followup_response",
    "progression_date",
    "pfs_days",
    "pfs_event",
)
_PCT_COLUMNS = {
    # column -> (numerator sum column, reference column) in exact units
    "change_from_baseline_pct": ("_sum_u", "_baseline_u"),
    "change_from_nadir_pct": ("_sum_u", "_nadir_u"),
}


@dataclass
class Evaluation:
    """Result of :func:`evaluate`.

    Attributes
    ----------
    timepoints : pandas.DataFrame
        One row per patient and time point (columns :data:`TIMEPOINT_COLUMNS`).
        Sums are in mm; percentages are exact (not rounded); responses are
        ``CR``, ``PR``, ``SD``, ``PD``, ``NE``, ``NON-CR/NON-PD`` or empty where the
        patient has no lesion of that kind (and at baseline).
    patients : pandas.DataFrame
        One row per patient (columns :data:`PATIENT_COLUMNS`).
    messages : pandas.DataFrame
        Validation warnings and errors (columns ``patient_id, timepoint, lesion_id,
        severity, rule, message``).
    target_sizes : pandas.DataFrame
        What each target counts in the sum at each time point (see the property).
    settings : ResponseSettings
        The settings used.
    """

    timepoints: pd.DataFrame
    patients: pd.DataFrame
    messages: pd.DataFrame
    settings: ResponseSettings
    _exact: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _target_sizes: Callable[[], pd.DataFrame] | None = field(default=None, repr=False)

    @functools.cached_property
    def target_sizes(self) -> pd.DataFrame:
        """What each target lesion contributes to the sum at each time point.

        Columns ``patient_id, timepoint, lesion_id, counted_mm`` (NaN when not
        evaluated): its diameter, 5 mm when too small, 0 when disappeared (a node
        keeps its short axis), fragments added, after the rounding setting. Built on
        first use (a batch run does not need it).
        """
        if self._target_sizes is None:
            return pd.DataFrame(columns=["patient_id", "timepoint", "lesion_id", "counted_mm"])
        return self._target_sizes()

    @property
    def has_errors(self) -> bool:
        """Whether any message is an error (only under ``strict``)."""
        return bool((self.messages["severity"] == "error").any())

    def output_tables(self) -> dict[str, pd.DataFrame]:
        """The tables as they are written: ``timepoints``, ``patients``, ``messages``.

        Percentages are rounded to 0.1 (half away from zero, from the exact sums).
        """
        tp = self.timepoints.copy()
        for col, (num, ref) in _PCT_COLUMNS.items():
            tp[col] = _rounded_pct(self._exact[num], self._exact[ref])
        pt = self.patients.copy()
        pt["best_change_pct"] = _rounded_pct(self._exact["_best_u"], self._exact["_pbase_u"])
        return {"timepoints": tp, "patients": pt, "messages": self.messages}

    def write(self, outdir: str | os.PathLike, fmt: str = "csv") -> dict[str, Path]:
        """Write ``timepoints``, ``patients``, ``messages`` (``.csv`` or ``.parquet``) and
        ``settings.json``.

        The files are renamed into place together once all are written (see
        :mod:`recist_tool.output`). Percentages are rounded to 0.1 (half away from zero,
        from the exact sums) in the files only.
        """
        from recist_tool.output import ResultWriter

        with ResultWriter(outdir, result_metadata(self.settings), fmt) as writer:
            writer.append(self.output_tables())
        return writer.paths


def result_metadata(settings: ResponseSettings) -> dict:
    """What ``settings.json`` holds: software, version, criteria and settings."""
    meta = {"software": "recist-tool", "version": __version__, "criteria": "RECIST 1.1"}
    meta["settings"] = settings.to_dict()
    return meta


def evaluate(
    data: pd.DataFrame | list[Measurement],
    settings: ResponseSettings | None = None,
) -> Evaluation:
    """Evaluate RECIST 1.1 response for every patient of an annotation table.

    Parameters
    ----------
    data : DataFrame or list of Measurement
        Annotation rows (as from :func:`recist_tool.annotations.read_annotations`,
        any table with the annotation columns, or :class:`Measurement` records).
    settings : ResponseSettings, optional
        Conventions; the defaults follow RECIST 1.1 and its FAQ.

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
    if not isinstance(data, pd.DataFrame):
        data = check_measurements(data)
    elif not is_checked(data):
        data = check_annotations(data)
    prep = prepare(data)
    messages = validation_messages(prep, settings)
    tps = evaluate_timepoints(prep, settings)
    pts = best_response(prep, tps, settings)
    if settings.strict and len(messages):
        _blank_errors(prep, tps, pts, messages)
    return _tables(prep, tps, pts, messages, settings)


def _blank_errors(
    prep: Prepared, tps: TimepointResult, pts: PatientResult, messages: pd.DataFrame
) -> None:
    """Strict mode: a patient with an error is not evaluated (responses left empty)."""
    bad_ids = messages.loc[messages["severity"] == "error", "patient_id"].unique()
    bad = np.isin(prep.patient_ids, bad_ids)
    at_tp = bad[prep.tp_patient]
    for arr in (tps.target, tps.non_target, tps.overall):
        arr[at_tp] = 0
    pts.best[bad] = 0
    pts.best_tp[bad] = -1
    pts.progression_tp[bad] = -1
    pts.pfs_event[bad] = -1


def _tables(
    prep: Prepared,
    tps: TimepointResult,
    pts: PatientResult,
    messages: pd.DataFrame,
    settings: ResponseSettings,
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
    new = np.where(
        tps.new_unequivocal > 0, "yes", np.where(tps.new_equivocal > 0, "equivocal", "no")
    ).astype(object)
    timepoints = pd.DataFrame(
        {
            "patient_id": pd.Categorical.from_codes(pat, prep.patient_ids),
            "timepoint": _categorical(prep.tp_label),
            "date": dates,
            "days_from_baseline": days,
            "sum_mm": _mm(sum_u),
            "nadir_mm": _mm(np.where(has_t & follow, tps.nadir, -1)),
            "change_from_baseline_pct": _pct(sum_u, base_u),
            "change_from_nadir_pct": _pct(sum_u, nadir_u),
            "target_response": _responses(tps.target),
            "non_target_response": _responses(tps.non_target),
            "new_lesions": _categorical(np.where(follow, new, "")),
            "overall_response": _responses(tps.overall),
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
    pfs_event = pts.pfs_event.astype(np.float64)
    pfs_event[pts.pfs_event < 0] = np.nan
    pfs_days = np.where(pfs_event >= 0, pts.pfs_days, np.nan)
    patients = pd.DataFrame(
        {
            "patient_id": prep.patient_ids,
            "baseline_date": dates[base_tp],
            "n_targets": n_targets,
            "baseline_sum_mm": _mm(baseline_u),
            "best_overall_response": RESPONSE_NAMES[pts.best],
            "best_response_date": _date_at(pts.best_tp, dates),
            "best_change_pct": _pct(best_u, pbase_u),
            "first_followup_date": _date_at(pts.first_followup_tp, dates),
            "first_followup_response": first_resp,
            "progression_date": _date_at(pts.progression_tp, dates),
            "pfs_days": pd.array(pfs_days, dtype="Int64"),
            "pfs_event": pd.array(pfs_event, dtype="Int64"),
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

    def target_sizes() -> pd.DataFrame:
        return pd.DataFrame(
            {
                "patient_id": pd.Categorical.from_codes(pat[tps.cell_tp], prep.patient_ids),
                "timepoint": _categorical(prep.tp_label)[tps.cell_tp],
                "lesion_id": _categorical(prep.les_label)[tps.cell_lesion],
                "counted_mm": _mm(np.where(tps.cell_ne, -1, tps.cell_value)),
            },
            copy=False,
        )

    return Evaluation(
        timepoints, patients, messages[list(MESSAGE_COLUMNS)], settings, exact, target_sizes
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


def _pct(num_u: np.ndarray, ref_u: np.ndarray) -> np.ndarray:
    ok = (num_u >= 0) & (ref_u > 0)
    out = np.full(len(num_u), np.nan)
    out[ok] = (num_u[ok] - ref_u[ok]) * 100.0 / ref_u[ok]
    return out


def _rounded_pct(num_u: np.ndarray, ref_u: np.ndarray) -> np.ndarray:
    """Percent change rounded to 0.1, half away from zero, in integer arithmetic."""
    ok = (num_u >= 0) & (ref_u > 0)
    out = np.full(len(num_u), np.nan)
    d = num_u[ok] - ref_u[ok]
    ref = ref_u[ok]
    tenths = (2 * np.abs(d) * 1000 + ref) // (2 * ref)  # |d|/ref * 1000, rounded
    out[ok] = np.sign(d) * tenths / 10.0
    return out
