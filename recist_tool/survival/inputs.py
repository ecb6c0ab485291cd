"""Read and check the survival inputs: clinical.csv, patients.csv and treatments.csv.

Every problem is reported as ``file: line N: column C: 'value': what is wrong``
(the header is line 1, as an editor counts). Dates are ``YYYY-MM-DD``. Time zero
is each patient's ``treatment_date``; every later date is turned into days since
time zero.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from recist_tool._outputs import check_output_set
from recist_tool.annotations import parse_date
from recist_tool.errors import RecistError

#: Required columns of clinical.csv; any further column is a covariate.
CLINICAL_COLUMNS: tuple[str, ...] = ("patient_id", "treatment_date", "last_contact_date", "death")
#: Columns of patients.csv (written by ``recist-tool batch``) the survival side needs;
#: any others (``reference_date``, ``tgr_pct_month``, ...) are used when present.
RESPONSE_COLUMNS: tuple[str, ...] = (
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
TREATMENT_COLUMNS: tuple[str, ...] = ("patient_id", "date")
#: RECIST overall responses as written by the engine.
RESPONSES: tuple[str, ...] = ("CR", "PR", "SD", "PD", "NE", "NON-CR/NON-PD")
#: Suffix of a clinical column giving the date a covariate became known.
DATE_SUFFIX = "_date"

_MAX_REPORTED = 20

Source = str | os.PathLike | pd.DataFrame


class SurvivalInputError(RecistError):
    """A survival input file is malformed or inconsistent (names file/line/column/value)."""


@dataclass
class Covariate:
    """One clinical covariate.

    Attributes
    ----------
    name : str
    numeric : bool
        True when every non-empty value parses as a number.
    values : pandas.Series
        Indexed by patient_id; float for numeric covariates, str (NaN = missing) otherwise.
    known_days : pandas.Series or None
        Days from time zero when the value became known (``<name>_date``); NaN = at
        time zero. None when clinical.csv has no such column.
    """

    name: str
    numeric: bool
    values: pd.Series
    known_days: pd.Series | None = None


@dataclass
class SurvivalInputs:
    """Checked survival inputs, all indexed by patient_id.

    Attributes
    ----------
    clinical : pandas.DataFrame
        ``treatment_date``, ``last_contact_date`` (Timestamps), ``death`` (0/1) and
        ``os_days`` (last contact minus treatment date).
    covariates : dict of Covariate
        The clinical covariates, in file order.
    responses : pandas.DataFrame or None
        patients.csv, typed; date columns as Timestamps, plus ``first_followup_days``,
        ``progression_days`` and ``last_scan_days`` (days from time zero).
    treatments : pandas.DataFrame or None
        ``patient_id``, ``date``, ``days`` (from time zero), one row per treatment.
    sources : dict
        Names of the inputs, for messages.
    """

    clinical: pd.DataFrame
    covariates: dict[str, Covariate]
    responses: pd.DataFrame | None = None
    treatments: pd.DataFrame | None = None
    sources: dict[str, str] = field(default_factory=dict)


class _Problems:
    """Collects problems and raises them together."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[tuple[int, str]] = []

    def add(self, frame: pd.DataFrame, mask: np.ndarray | pd.Series, column: str, what: str):
        mask = np.asarray(mask, dtype=bool)
        for i in np.flatnonzero(mask)[: _MAX_REPORTED + 1]:
            value = frame[column].iloc[i] if column in frame.columns else ""
            shown = "empty" if value == "" else repr(value)
            self.items.append((int(frame["_line"].iloc[i]), f"column {column}: {shown}: {what}"))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        self.items.sort(key=lambda p: p[0])
        lines = [f"{self.source}: line {ln}: {text}" for ln, text in self.items[:_MAX_REPORTED]]
        if len(self.items) > _MAX_REPORTED:
            lines.append(f"... and {len(self.items) - _MAX_REPORTED} more problem(s)")
        if len(lines) == 1:
            raise SurvivalInputError(lines[0])
        raise SurvivalInputError("bad survival input:\n  " + "\n  ".join(lines))


def _cell_text(v: object) -> str:
    """One cell of a typed table as the text a CSV would hold."""
    if v is None or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, pd.Timestamp | np.datetime64 | date):
        return pd.Timestamp(v).strftime("%Y-%m-%d")
    if isinstance(v, float | np.floating):
        if np.isnan(v):
            return ""
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    return str(v)


def _frame_as_text(source: pd.DataFrame) -> pd.DataFrame:
    """A typed DataFrame (e.g. the engine's patients table) as CSV-like text."""
    frame = pd.DataFrame(
        {str(c): [_cell_text(v) for v in source[c].tolist()] for c in source.columns},
        index=range(len(source)),
    )
    return frame


def _load(source: Source, name: str, required: tuple[str, ...]) -> tuple[pd.DataFrame, str]:
    """Read a CSV as text (or take a DataFrame), add ``_line``, check required columns."""
    if isinstance(source, pd.DataFrame):
        label = f"<{name}>"
        frame = _frame_as_text(source)
    else:
        path = Path(source)
        label = str(path)
        if not path.is_file():
            raise SurvivalInputError(f"{label}: no such file ({name})")
        if name.startswith("patients"):
            check_output_set(path.parent, [path.name])  # the patients.csv of one batch run
        try:
            # The header as written (pandas would rename a second "death" to "death.1").
            names = pd.read_csv(path, dtype=str, header=None, nrows=1, keep_default_na=False)
            _check_names(label, [str(c) for c in names.iloc[0].tolist()] if len(names) else [])
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        except pd.errors.EmptyDataError:
            raise SurvivalInputError(f"{label}: the file is empty ({name})") from None
        except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
            raise SurvivalInputError(f"{label}: not a readable CSV file: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    _check_names(label, list(frame.columns))
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise SurvivalInputError(
            f"{label}: line 1: missing column(s) {', '.join(missing)} "
            f"(the {name} file needs {', '.join(required)})"
        )
    if len(frame) == 0:
        raise SurvivalInputError(f"{label}: no data rows ({name})")
    frame = frame.apply(lambda s: s.str.strip())
    frame["_line"] = np.arange(2, len(frame) + 2)
    return frame, label


def _check_names(label: str, names: list[str]) -> None:
    """Column names: none twice (linear check), none reserved."""
    names = [n.strip() for n in names]
    dupes = sorted(n for n, k in Counter(names).items() if k > 1)
    if dupes:
        raise SurvivalInputError(f"{label}: line 1: column(s) named twice: {', '.join(dupes)}")
    if "_line" in names:
        raise SurvivalInputError(
            f"{label}: line 1: column name _line is reserved (it holds the line number of "
            "each row in messages); rename the column"
        )


def _dates(frame: pd.DataFrame, col: str, probs: _Problems, required: bool) -> pd.Series:
    """YYYY-MM-DD dates (years 0001 … 9999) as ``datetime64[s]``; NaT where empty or bad."""
    text = frame[col]
    codes, uniques = pd.factorize(text)  # parse each distinct value once
    days = [parse_date(str(u)) for u in uniques]
    lut = np.array([d if d is not None else np.datetime64("NaT") for d in days] + ["NaT"],
                   dtype="datetime64[D]").astype("datetime64[s]")  # fmt: skip
    parsed = pd.Series(lut[codes], index=frame.index)
    empty = text == ""
    if required:
        probs.add(frame, empty, col, "must not be empty (a date YYYY-MM-DD)")
    probs.add(frame, parsed.isna() & ~empty, col, "not a date in the form YYYY-MM-DD")
    return parsed


def _check_ids(frame: pd.DataFrame, probs: _Problems, unique: bool) -> None:
    probs.add(frame, frame["patient_id"] == "", "patient_id", "must not be empty")
    if unique:
        dup = frame["patient_id"].duplicated(keep="first") & (frame["patient_id"] != "")
        for i in np.flatnonzero(dup.to_numpy())[:_MAX_REPORTED]:
            pid = frame["patient_id"].iloc[i]
            first = int(frame.loc[frame["patient_id"] == pid, "_line"].iloc[0])
            probs.items.append(
                (
                    int(frame["_line"].iloc[i]),
                    f"column patient_id: {pid!r}: duplicate of line {first}",
                )
            )


def _unknown(frame: pd.DataFrame, known: pd.Index, probs: _Problems, clinical_label: str):
    mask = ~frame["patient_id"].isin(known) & (frame["patient_id"] != "")
    probs.add(frame, mask, "patient_id", f"unknown patient (not in {clinical_label})")


def _days(dates: pd.Series, t0: pd.Series) -> pd.Series:
    return (dates - t0).dt.days.astype(float)


def read_clinical(source: Source) -> tuple[pd.DataFrame, dict[str, Covariate], str]:
    """Read clinical.csv.

    Parameters
    ----------
    source : path or DataFrame
        Columns ``patient_id, treatment_date, last_contact_date, death`` and any
        covariates; ``<covariate>_date`` gives the date a covariate became known.

    Returns
    -------
    (clinical, covariates, label)

    Raises
    ------
    SurvivalInputError
        Missing columns, bad or empty values, duplicate patients, last contact before
        time zero, covariate dates before time zero or after the last contact.
    """
    frame, label = _load(source, "clinical", CLINICAL_COLUMNS)
    probs = _Problems(label)
    _check_ids(frame, probs, unique=True)
    t0 = _dates(frame, "treatment_date", probs, required=True)
    last = _dates(frame, "last_contact_date", probs, required=True)
    probs.add(frame, ~frame["death"].isin(["0", "1"]), "death", "expected 0 or 1")
    before = (last < t0).to_numpy()
    probs.add(frame, before, "last_contact_date", "before time zero (treatment_date)")

    base = [c for c in CLINICAL_COLUMNS] + ["_line"]
    others = [c for c in frame.columns if c not in base]
    date_cols = {c for c in others if c.endswith(DATE_SUFFIX) and c[: -len(DATE_SUFFIX)] in others}
    covariates: dict[str, Covariate] = {}
    for name in others:
        if name in date_cols or name == "" or name.endswith(DATE_SUFFIX):
            continue  # dates are never covariates themselves
        text = frame[name]
        present = text != ""
        nums = pd.to_numeric(text.where(present), errors="coerce")
        numeric = bool(present.any()) and bool(nums[present].notna().all())
        values = nums if numeric else text.where(present).astype(object)
        known = None
        dcol = name + DATE_SUFFIX
        if dcol in date_cols:
            if numeric:
                probs.items.append(
                    (
                        1,
                        f"column {dcol}: dates are supported for categorical covariates only "
                        "(give treatment dates in treatments.csv for a running count)",
                    )
                )
            d = _dates(frame, dcol, probs, required=False)
            probs.add(frame, (d < t0).to_numpy(), dcol, "before time zero (treatment_date)")
            probs.add(frame, (d > last).to_numpy(), dcol, "after last_contact_date")
            probs.add(
                frame,
                (d.notna() & ~present).to_numpy(),
                dcol,
                f"a date is given but {name} is empty",
            )
            known = _days(d, t0)
        covariates[name] = Covariate(name, numeric, values, known)
    probs.raise_if_any()

    ids = frame["patient_id"]
    clinical = pd.DataFrame(
        {
            "treatment_date": t0.to_numpy(),
            "last_contact_date": last.to_numpy(),
            "death": frame["death"].astype(int).to_numpy(),
            "os_days": _days(last, t0).to_numpy(),
            "_line": frame["_line"].to_numpy(),
        },
        index=pd.Index(ids, name="patient_id"),
    )
    for cov in covariates.values():
        cov.values = pd.Series(cov.values.to_numpy(), index=clinical.index, name=cov.name)
        if cov.known_days is not None:
            cov.known_days = pd.Series(cov.known_days.to_numpy(), index=clinical.index)
    return clinical, covariates, label


def read_responses(source: Source, clinical: pd.DataFrame, clinical_label: str) -> pd.DataFrame:
    """Read patients.csv from ``recist-tool batch`` and relate it to time zero.

    Raises
    ------
    SurvivalInputError
        Missing columns, unknown or duplicate patients, bad dates, responses or
        numbers, follow-up or progression dates before time zero or after the last
        contact, ``pfs_event`` 1 without a progression date.
    """
    frame, label = _load(source, "patients (responses)", RESPONSE_COLUMNS)
    probs = _Problems(label)
    _check_ids(frame, probs, unique=True)
    _unknown(frame, clinical.index, probs, clinical_label)
    dates = {
        c: _dates(frame, c, probs, required=(c == "baseline_date"))
        for c in ("baseline_date", "best_response_date", "first_followup_date", "progression_date")
    }
    for col in ("best_overall_response", "first_followup_response"):
        bad = ~frame[col].isin(RESPONSES) & (frame[col] != "")
        probs.add(frame, bad, col, f"unknown response (expected one of {', '.join(RESPONSES)})")
    pfs_days = pd.to_numeric(frame["pfs_days"], errors="coerce")
    probs.add(
        frame, (pfs_days.isna() | (pfs_days < 0)).to_numpy(), "pfs_days", "expected a number >= 0"
    )
    probs.add(frame, ~frame["pfs_event"].isin(["0", "1"]), "pfs_event", "expected 0 or 1")
    no_date = (frame["pfs_event"] == "1") & (frame["progression_date"] == "")
    probs.add(frame, no_date, "pfs_event", "is 1 but progression_date is empty")
    probs.raise_if_any()

    known = frame["patient_id"].to_numpy()
    t0 = pd.Series(clinical.loc[known, "treatment_date"].to_numpy(), index=frame.index)
    last = pd.Series(clinical.loc[known, "last_contact_date"].to_numpy(), index=frame.index)
    for col in ("first_followup_date", "progression_date"):
        probs.add(frame, (dates[col] < t0).to_numpy(), col, "before time zero (treatment_date)")
        probs.add(frame, (dates[col] > last).to_numpy(), col, "after last_contact_date")
    probs.add(
        frame,
        (dates["baseline_date"] > last).to_numpy(),
        "baseline_date",
        "after last_contact_date (the baseline scan cannot follow the last contact)",
    )
    probs.raise_if_any()

    out = pd.DataFrame(
        {
            "baseline_date": dates["baseline_date"].to_numpy(),
            "first_followup_date": dates["first_followup_date"].to_numpy(),
            "first_followup_response": frame["first_followup_response"]
            .replace("", np.nan)
            .to_numpy(),
            "best_overall_response": frame["best_overall_response"].replace("", np.nan).to_numpy(),
            "progression_date": dates["progression_date"].to_numpy(),
            "pfs_days": pfs_days.to_numpy(),
            "pfs_event": frame["pfs_event"].astype(int).to_numpy(),
            "first_followup_days": _days(dates["first_followup_date"], t0).to_numpy(),
            "progression_days": _days(dates["progression_date"], t0).to_numpy(),
            "_line": frame["_line"].to_numpy(),
        },
        index=pd.Index(known, name="patient_id"),
    )
    # pfs_days counts from the run's reference date (the baseline scan by default)
    origin = dates["baseline_date"]
    if "reference_date" in frame.columns:
        ref = _dates(frame, "reference_date", probs, required=False)
        probs.raise_if_any()
        origin = ref.fillna(origin)
    last_scan = origin + pd.to_timedelta(pfs_days, unit="D").astype("m8[s]")
    out["last_scan_days"] = _days(last_scan, t0).to_numpy()
    if "tgr_pct_month" in frame.columns:
        tgr = pd.to_numeric(frame["tgr_pct_month"].replace("", np.nan), errors="coerce")
        bad = tgr.isna() & (frame["tgr_pct_month"] != "")
        probs.add(frame, bad.to_numpy(), "tgr_pct_month", "expected a number (%/month)")
        probs.raise_if_any()
        out["tgr_pct_month"] = tgr.to_numpy()
    return out


def read_treatments(source: Source, clinical: pd.DataFrame, clinical_label: str) -> pd.DataFrame:
    """Read treatments.csv (``patient_id, date``; one row per treatment).

    Raises
    ------
    SurvivalInputError
        Missing columns, unknown patients, bad dates, dates before time zero or after
        the last contact.
    """
    frame, label = _load(source, "treatments", TREATMENT_COLUMNS)
    probs = _Problems(label)
    _check_ids(frame, probs, unique=False)
    _unknown(frame, clinical.index, probs, clinical_label)
    d = _dates(frame, "date", probs, required=True)
    probs.raise_if_any()
    ids = frame["patient_id"].to_numpy()
    t0 = pd.Series(clinical.loc[ids, "treatment_date"].to_numpy(), index=frame.index)
    last = pd.Series(clinical.loc[ids, "last_contact_date"].to_numpy(), index=frame.index)
    probs.add(frame, (d < t0).to_numpy(), "date", "before time zero (treatment_date)")
    probs.add(frame, (d > last).to_numpy(), "date", "after last_contact_date")
    probs.raise_if_any()
    return pd.DataFrame({"patient_id": ids, "date": d.to_numpy(), "days": _days(d, t0).to_numpy()})


def read_inputs(
    clinical: Source, responses: Source | None = None, treatments: Source | None = None
) -> SurvivalInputs:
    """Read and cross-check all survival inputs.

    Parameters
    ----------
    clinical, responses, treatments : path or DataFrame
        clinical.csv, patients.csv (optional) and treatments.csv (optional).

    Returns
    -------
    SurvivalInputs
    """
    clin, covs, clabel = read_clinical(clinical)
    out = SurvivalInputs(clinical=clin, covariates=covs, sources={"clinical": clabel})
    if responses is not None:
        out.responses = read_responses(responses, clin, clabel)
        out.sources["responses"] = _label(responses, "patients")
    if treatments is not None:
        out.treatments = read_treatments(treatments, clin, clabel)
        out.sources["treatments"] = _label(treatments, "treatments")
    return out


def _label(source: Source, name: str) -> str:
    return f"<{name}>" if isinstance(source, pd.DataFrame) else str(source)
