"""From a checked annotation table to the integer arrays the engine works on.

Sizes become exact integers in :data:`U` units per mm (inputs with up to six
decimals are represented exactly, so thresholds are decided without binary
floating point). Time points are ordered by date within each patient; lesions get
one index across time points. Structural errors (the same lesion twice at a time
point, a lesion whose kind changes, ...) raise :class:`AnnotationError` naming the
file and line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recist_tool.annotations import parse_date
from recist_tool.errors import AnnotationError

#: Engine units per millimetre (1 nm): decimal inputs with <= 6 decimals are exact.
U = 1_000_000

# Row status codes (kind-specific statuses share one code space).
MEASURED, TOO_SMALL, DISAPPEARED, NOT_EVALUATED = 0, 1, 2, 3
PRESENT, ABSENT, PROGRESSION = 4, 5, 6
NEW_PRESENT, NEW_EQUIVOCAL = 7, 8
EQUIVOCAL_PROGRESSION = 9
TARGET, NON_TARGET, NEW, NEW_TARGET, NEW_NON_TARGET = 0, 1, 2, 3, 4
#: Kinds of lesions first seen at follow-up (``kind >= NEW``).
KIND_NAMES = ("target", "non_target", "new", "new_target", "new_non_target")

_KIND_CODE = {k: i for i, k in enumerate(KIND_NAMES)}
_STATUS_CODE = {
    ("target", "measured"): MEASURED,
    ("target", "too_small"): TOO_SMALL,
    ("target", "disappeared"): DISAPPEARED,
    ("target", "not_evaluated"): NOT_EVALUATED,
    ("non_target", "present"): PRESENT,
    ("non_target", "absent"): ABSENT,
    ("non_target", "progression"): PROGRESSION,
    ("non_target", "not_evaluated"): NOT_EVALUATED,
    ("non_target", "equivocal_progression"): EQUIVOCAL_PROGRESSION,
    ("new", "present"): NEW_PRESENT,
    ("new", "equivocal"): NEW_EQUIVOCAL,
    ("new_target", "measured"): MEASURED,
    ("new_target", "too_small"): TOO_SMALL,
    ("new_target", "disappeared"): DISAPPEARED,
    ("new_target", "not_evaluated"): NOT_EVALUATED,
    ("new_non_target", "present"): NEW_PRESENT,
    ("new_non_target", "absent"): ABSENT,
    ("new_non_target", "progression"): PROGRESSION,
    ("new_non_target", "equivocal"): NEW_EQUIVOCAL,
    ("new_non_target", "not_evaluated"): NOT_EVALUATED,
}


@dataclass
class Prepared:
    """Columnar view of an annotation table, sorted into patients and time points."""

    frame: pd.DataFrame
    # patients
    patient_ids: np.ndarray  # object, sorted
    tp_start: np.ndarray  # first time point index of each patient
    tp_count: np.ndarray
    # time points (sorted by patient, date)
    tp_patient: np.ndarray
    tp_label: np.ndarray  # object
    tp_date: np.ndarray  # int64 days since epoch (earliest date of its rows)
    tp_rank: np.ndarray  # 0 = baseline
    tp_multi_date: np.ndarray  # bool: rows of this time point carry several dates
    tp_first_row: np.ndarray
    # lesions
    les_patient: np.ndarray
    les_label: np.ndarray  # object
    les_kind: np.ndarray
    les_nodal: np.ndarray
    les_first_rank: np.ndarray
    les_first_row: np.ndarray  # a row at the lesion's first time point
    # rows
    row_tp: np.ndarray
    row_les: np.ndarray
    row_kind: np.ndarray
    row_status: np.ndarray
    row_nodal: np.ndarray
    row_la: np.ndarray  # int64 units, -1 when empty
    row_sa: np.ndarray
    row_slice: np.ndarray  # int64 units, -1 when empty
    row_markers_abnormal: np.ndarray  # bool: optional tumour_markers column says abnormal
    row_hu: np.ndarray | None = None  # int64 units of HU (mean_hu column), None if absent
    row_hu_ok: np.ndarray | None = None  # bool: mean_hu given
    # patients
    baseline_incomplete: np.ndarray | None = None  # bool per patient
    ref_day: np.ndarray | None = None  # int64 days since epoch per patient (reference date)
    ref_kind: np.ndarray | None = None  # int8 per patient: 0 baseline scan, 1 treatment, 2 rand.

    @property
    def n_patients(self) -> int:
        return len(self.patient_ids)

    @property
    def n_tp(self) -> int:
        return len(self.tp_patient)

    def where(self, row: int) -> str:
        """``file: line N`` (or ``row N``) of a row, for messages."""
        f = self.frame
        if "_source" in f.columns:
            source = str(f["_source"].iat[row])
            word = "row" if source.startswith("<") else "line"  # an in-memory table
            return f"{source}: {word} {int(f['_line'].iat[row])}"
        return f"row {row + 1}"


def units(mm: np.ndarray) -> np.ndarray:
    """Millimetres (float, NaN = empty) to exact integer units (-1 = empty)."""
    mm = np.asarray(mm, dtype=np.float64)
    out = np.full(len(mm), -1, dtype=np.int64)
    ok = ~np.isnan(mm)
    out[ok] = np.rint(mm[ok] * U).astype(np.int64)
    return out


def text_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as an object array of str ("" where empty), whatever its dtype."""
    s = frame[name]
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = np.append(np.asarray(s.cat.categories, dtype=object).astype(str), "")
        return cats[s.cat.codes.to_numpy()].astype(object)
    return s.astype(object).where(s.notna(), "").astype(str).to_numpy(dtype=object)


def _compact(key: np.ndarray, key_range: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and each row's index among them (``np.unique`` semantics).

    Linear (a presence table) when the key range is small, as it is for codes of
    patients x labels; sorting otherwise.
    """
    if key_range > 8 * len(key) + 1024:
        return np.unique(key, return_inverse=True)
    present = np.zeros(key_range, dtype=bool)
    present[key] = True
    index = np.cumsum(present, dtype=np.int64) - 1
    return np.flatnonzero(present), index[key]


def _days(dates: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 (int64) of a datetime column, without a unit conversion pass."""
    values = dates.to_numpy()
    unit, _ = np.datetime_data(values.dtype)
    per_day = {"D": 1, "s": 86_400, "ms": 86_400_000, "us": 86_400_000_000}.get(unit)
    if per_day is None:
        return values.astype("datetime64[D]").astype(np.int64)
    return values.view(np.int64) // per_day


def _codes(series: pd.Series, sort: bool = False) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(series)
    uniques = np.asarray(uniques, dtype=object)
    if sort and len(uniques) > 1:  # by value (pandas sorts a categorical by category order)
        order = np.argsort(uniques.astype(str), kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        return rank[codes], uniques[order]
    return codes.astype(np.int64), uniques


def prepare(frame: pd.DataFrame) -> Prepared:
    """Index a checked annotation table (see :func:`recist_tool.annotations.check_annotations`).

    Raises
    ------
    AnnotationError
        For structural problems, naming the file and line of an offending row.
    """
    n = len(frame)
    pcode, patient_ids = _codes(frame["patient_id"], sort=True)
    lcode, labels = _codes(frame["timepoint"], sort=True)
    lescode, lesion_labels = _codes(frame["lesion_id"], sort=True)
    days = _days(frame["date"])

    kind_codes, kind_names = _codes(frame["kind"])
    status_codes, status_names = _codes(frame["status"])
    kind_map = np.array([_KIND_CODE[k] for k in kind_names], dtype=np.int8)
    row_kind = kind_map[kind_codes] if n else np.zeros(0, np.int8)
    pair = kind_codes * max(len(status_names), 1) + status_codes
    lut = np.full(max(len(kind_names), 1) * max(len(status_names), 1), -1, dtype=np.int8)
    for ki, k in enumerate(kind_names):
        for si, s in enumerate(status_names):
            lut[ki * len(status_names) + si] = _STATUS_CODE.get((k, s), -1)
    row_status = lut[pair] if n else np.zeros(0, np.int8)

    # ---- time points: (patient, label), ordered by date within the patient
    tp_key = pcode * max(len(labels), 1) + lcode
    tp_keys, row_tp = _compact(tp_key, len(patient_ids) * max(len(labels), 1))
    n_tp = len(tp_keys)
    tp_patient = tp_keys // max(len(labels), 1)
    tp_label_code = tp_keys % max(len(labels), 1)
    tp_date = np.full(n_tp, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(tp_date, row_tp, days)
    tp_date_max = np.full(n_tp, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(tp_date_max, row_tp, days)
    order = np.lexsort((tp_date, tp_patient))
    remap = np.empty(n_tp, dtype=np.int64)
    remap[order] = np.arange(n_tp)
    row_tp = remap[row_tp]
    tp_patient, tp_label_code = tp_patient[order], tp_label_code[order]
    tp_date, tp_date_max = tp_date[order], tp_date_max[order]
    n_pat = len(patient_ids)
    tp_count = np.bincount(tp_patient, minlength=n_pat)
    tp_start = np.zeros(n_pat, dtype=np.int64)
    tp_start[1:] = np.cumsum(tp_count)[:-1]
    tp_rank = np.arange(n_tp) - tp_start[tp_patient]
    tp_first_row = np.full(n_tp, n, dtype=np.int64)
    np.minimum.at(tp_first_row, row_tp, np.arange(n))

    prep = Prepared(
        frame=frame,
        patient_ids=patient_ids,
        tp_start=tp_start,
        tp_count=tp_count,
        tp_patient=tp_patient,
        tp_label=labels[tp_label_code] if n else np.zeros(0, object),
        tp_date=tp_date,
        tp_rank=tp_rank,
        tp_multi_date=tp_date_max != tp_date,
        tp_first_row=tp_first_row,
        les_patient=np.zeros(0, np.int64),
        les_label=np.zeros(0, object),
        les_kind=np.zeros(0, np.int8),
        les_nodal=np.zeros(0, bool),
        les_first_rank=np.zeros(0, np.int64),
        les_first_row=np.zeros(0, np.int64),
        row_tp=row_tp,
        row_les=np.zeros(n, np.int64),
        row_kind=row_kind,
        row_status=row_status,
        row_nodal=frame["nodal"].to_numpy(dtype=bool),
        row_la=units(frame["long_axis_mm"].to_numpy(dtype=np.float64)),
        row_sa=units(frame["short_axis_mm"].to_numpy(dtype=np.float64)),
        row_slice=(
            units(frame["slice_thickness_mm"].to_numpy(dtype=np.float64))
            if "slice_thickness_mm" in frame.columns
            else np.full(n, -1, dtype=np.int64)
        ),
        row_markers_abnormal=np.zeros(n, dtype=bool),
    )
    if "tumour_markers" in frame.columns:
        prep.row_markers_abnormal = _markers(prep)
    issues: list[tuple[int, str]] = []
    same = (tp_patient[1:] == tp_patient[:-1]) & (tp_date[1:] == tp_date[:-1])
    for t in np.flatnonzero(same)[:_MAX_ISSUES].tolist():
        issues.append(
            (
                int(tp_first_row[t + 1]),
                f"patient {patient_ids[tp_patient[t]]}: time points {prep.tp_label[t]!r} and "
                f"{prep.tp_label[t + 1]!r} have the same date "
                f"{np.datetime64(int(tp_date[t]), 'D')}; time points are ordered by date "
                f"(also at {prep.where(int(tp_first_row[t]))})",
            )
        )
    if issues:
        _raise(prep, issues)

    # ---- lesions: (patient, lesion_id), one identity across time points
    les_key = pcode * max(len(lesion_labels), 1) + lescode
    les_keys, row_les = _compact(les_key, len(patient_ids) * max(len(lesion_labels), 1))
    prep.row_les = row_les
    prep.les_patient = les_keys // max(len(lesion_labels), 1)
    prep.les_label = lesion_labels[les_keys % max(len(lesion_labels), 1)] if n else prep.les_label
    row_rank = tp_rank[row_tp]
    # The earliest row of each lesion (by time point, then file order) defines it.
    first_key = np.full(len(les_keys), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_key, row_les, row_rank * n + np.arange(n))
    first_row = first_key % max(n, 1)
    prep.les_first_row = first_row
    prep.les_first_rank = row_rank[first_row]
    prep.les_kind = row_kind[first_row]
    prep.les_nodal = prep.row_nodal[first_row]
    _check_structure(prep, row_rank)
    _patient_columns(prep)
    return prep


def _markers(prep: Prepared) -> np.ndarray:
    """The optional ``tumour_markers`` column: ``normal``, ``abnormal`` or empty."""
    text = np.char.lower(np.char.strip(text_column(prep.frame, "tumour_markers").astype(str)))
    bad = ~np.isin(text, ["", "normal", "abnormal"])
    if bad.any():
        _raise(
            prep,
            [
                (
                    int(r),
                    f"column tumour_markers: {str(text[r])!r}: expected normal, abnormal or empty",
                )
                for r in np.flatnonzero(bad)[:_MAX_ISSUES]
            ],
        )
    return text == "abnormal"


def _raise(prep: Prepared, issues: list[tuple[int, str]]) -> None:
    """Raise one AnnotationError listing ``(row, text)`` issues (every row kept in
    ``problems`` for keep-going)."""
    issues.sort()
    lines = [f"{prep.where(r)}: {text}" for r, text in issues[:20]]
    if len(issues) > 20:
        lines.append(f"... and {len(issues) - 20} more problem(s)")
    err = AnnotationError(
        lines[0] if len(lines) == 1 else "bad annotation input:\n  " + "\n  ".join(lines)
    )
    f = prep.frame
    src = f["_source"].astype(str).to_numpy() if "_source" in f.columns else None
    line = f["_line"].to_numpy() if "_line" in f.columns else None
    err.problems = [
        (
            r,
            "<table>" if src is None else src[r],
            r + 1 if line is None else int(line[r]),
            "",
            "",
            text,
        )
        for r, text in issues
    ]
    raise err


_MAX_ISSUES = 100_000


def _check_structure(prep: Prepared, row_rank: np.ndarray) -> None:
    problems: list[tuple[int, str]] = []

    def add(mask: np.ndarray, text) -> None:
        for r in np.flatnonzero(mask)[:_MAX_ISSUES]:
            problems.append((int(r), text(int(r))))

    les = prep.row_les
    pid = prep.patient_ids
    label = prep.les_label

    def who(r: int) -> str:
        return f"patient {pid[prep.les_patient[les[r]]]}, lesion {label[les[r]]}"

    kinds = KIND_NAMES
    changed = prep.row_kind != prep.les_kind[les]
    add(
        changed,
        lambda r: (
            f"column kind: {kinds[prep.row_kind[r]]!r}: {who(r)} was "
            f"{kinds[prep.les_kind[les[r]]]} at {prep.where(int(prep.les_first_row[les[r]]))}; "
            "a lesion keeps its kind at every time point"
        ),
    )
    nodal_changed = prep.row_nodal != prep.les_nodal[les]
    add(
        nodal_changed & ~changed,
        lambda r: f"column nodal: {who(r)} changes its nodal flag between time points",
    )
    # The same lesion twice at one time point (fragments of a split lesion excepted).
    cell = les * (int(prep.tp_count.max(initial=1)) + 1) + row_rank
    counts = np.bincount(cell) if len(cell) else np.zeros(1, np.int64)
    if counts.max(initial=0) > 1:  # rare: only then sort to find the pairs
        frag = text_column(prep.frame, "fragment") if "fragment" in prep.frame.columns else None
        order = np.argsort(cell, kind="stable")
        dup_next = cell[order][1:] == cell[order][:-1]
        a, b = order[:-1][dup_next], order[1:][dup_next]
        if frag is not None:
            ok = (frag[a] != "") & (frag[b] != "") & (frag[a] != frag[b])
            a, b = a[~ok], b[~ok]
        for ra, rb in list(zip(a, b, strict=True))[:20]:
            problems.append(
                (
                    int(rb),
                    f"{who(int(rb))} appears twice at time point "
                    f"{prep.tp_label[prep.row_tp[rb]]!r} (also at {prep.where(int(ra))})",
                )
            )
    target = prep.row_kind == TARGET
    measured = target & (prep.row_status == MEASURED)
    add(
        measured & prep.row_nodal & (prep.row_sa < 0),
        lambda r: (
            f"column short_axis_mm: empty: {who(r)} is a measured nodal target; "
            "its short axis is required"
        ),
    )
    add(
        measured & ~prep.row_nodal & (prep.row_la < 0),
        lambda r: (
            f"column long_axis_mm: empty: {who(r)} is a measured target; its long axis is required"
        ),
    )
    add(
        (prep.row_kind >= NEW) & (row_rank == 0),
        lambda r: (
            f"column kind: {kinds[prep.row_kind[r]]!r}: {who(r)} is marked new at the "
            "baseline time point"
        ),
    )
    add(
        target & (prep.les_first_rank[les] > 0) & ~changed,
        lambda r: (
            f"column kind: 'target': {who(r)} first appears at follow-up "
            f"{prep.tp_label[prep.row_tp[r]]!r}; target lesions are chosen at baseline "
            "(mark it new)"
        ),
    )
    add(
        target & (row_rank == 0) & (prep.row_status != MEASURED),
        lambda r: f"column status: {who(r)} is a target lesion and must be measured at baseline",
    )
    if problems:
        _raise(prep, problems)


def date_days(col: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days since 1970 of a column of ``YYYY-MM-DD`` texts, parsed at day resolution
    (any year 0001-9999, not pandas' nanosecond range 1677-2262).

    Returns (days per row, 0 where not a date; valid per row; not empty but not a
    date per row).
    """
    codes, values = _distinct_text(col)
    parsed = [parse_date(v) if v else None for v in values]
    valid_v = np.array([d is not None for d in parsed], dtype=bool)
    days_v = np.array([d if d is not None else 0 for d in parsed], dtype="datetime64[D]")
    bad_v = (values != "") & ~valid_v
    return days_v.astype(np.int64)[codes], valid_v[codes], bad_v[codes]


def _date_per_patient(prep: Prepared, column: str) -> np.ndarray:
    """Earliest valid ``YYYY-MM-DD`` of a per-patient date column (int days; -2**62 none).

    A value that is not a date raises :class:`AnnotationError` naming the row.
    """
    none = -(2**62)
    out = np.full(prep.n_patients, np.iinfo(np.int64).max, dtype=np.int64)
    days, ok, bad = date_days(prep.frame[column])
    if bad.any():
        text = prep.frame[column].astype(object).to_numpy()
        _raise(
            prep,
            [
                (
                    int(r),
                    f"column {column}: {str(text[r]).strip()!r}: not a calendar date "
                    "in the form YYYY-MM-DD (years 0001-9999)",
                )
                for r in np.flatnonzero(bad)[:_MAX_ISSUES]
            ],
        )
    np.minimum.at(out, prep.les_patient[prep.row_les][ok], days[ok])
    return np.where(out == np.iinfo(np.int64).max, none, out)


def _distinct_text(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Row codes into the distinct stripped texts of a column ('' = empty; last entry)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = np.asarray(col.cat.categories, dtype=object).astype(str)
        values = np.append(np.char.strip(cats.astype(str)).astype(object), "")
        codes = col.cat.codes.to_numpy().astype(np.int64)
        return np.where(codes < 0, len(values) - 1, codes), values
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    values = np.append(
        np.array([str(u).strip() for u in uniques], dtype=object), np.array([""], dtype=object)
    )
    return np.where(codes < 0, len(values) - 1, codes), values


def _patient_columns(prep: Prepared) -> None:
    """Optional per-patient and per-row columns: mean_hu, baseline_incomplete, dates."""
    f = prep.frame
    n = len(f)
    if "mean_hu" in f.columns:
        codes, values = _distinct_text(f["mean_hu"])
        parsed = pd.to_numeric(pd.Series(values, dtype=object).where(values != ""), errors="coerce")
        bad_v = (values != "") & parsed.isna().to_numpy()
        bad = bad_v[codes]
        if bad.any():
            _raise(
                prep,
                [
                    (
                        int(r),
                        f"column mean_hu: {values[codes[r]]!r}: not a number (mean density in HU)",
                    )
                    for r in np.flatnonzero(bad)[:_MAX_ISSUES]
                ],
            )
        v = parsed.to_numpy(dtype=np.float64)[codes]
        prep.row_hu_ok = ~np.isnan(v)
        prep.row_hu = np.where(prep.row_hu_ok, np.rint(np.nan_to_num(v) * U), 0).astype(np.int64)
    p_of_row = prep.les_patient[prep.row_les] if n else np.zeros(0, np.int64)
    inc = np.zeros(prep.n_patients, dtype=bool)
    if "baseline_incomplete" in f.columns:
        codes, values = _distinct_text(f["baseline_incomplete"])
        low = np.array([v.lower() for v in values], dtype=object)
        bad = ~np.isin(low, ["", "true", "false", "1", "0", "yes", "no"])[codes]
        if bad.any():
            _raise(
                prep,
                [
                    (
                        int(r),
                        f"column baseline_incomplete: {values[codes[r]]!r}: expected true or false",
                    )
                    for r in np.flatnonzero(bad)[:_MAX_ISSUES]
                ],
            )
        yes = np.isin(low, ["true", "1", "yes"])[codes]
        inc[p_of_row[yes]] = True
    prep.baseline_incomplete = inc
    prep.ref_day = prep.tp_date[prep.tp_start] if prep.n_tp else np.zeros(0, np.int64)
    prep.ref_kind = np.zeros(prep.n_patients, dtype=np.int8)


def resolve_reference(prep: Prepared, which: str) -> str:
    """Set each patient's reference date (SD duration, PFS) from ``which``.

    ``auto`` takes ``randomisation_date`` when that column exists, else
    ``treatment_date``, else the baseline scan. A patient without a value in the
    chosen column keeps the baseline scan (``ref_kind`` 0). Returns the column used
    (``"baseline"`` when none).
    """
    cols = prep.frame.columns
    if which == "auto":
        which = next((c for c in ("randomisation_date", "treatment_date") if c in cols), "baseline")
    if which == "baseline" or prep.n_patients == 0:
        return which
    if which not in cols:
        raise AnnotationError(
            f"reference date {which!r} asked for, but the annotations have no {which} column"
        )
    days = _date_per_patient(prep, which)
    has = days > -(2**62)
    prep.ref_day = np.where(has, days, prep.ref_day)
    prep.ref_kind = np.where(has, 1 if which == "treatment_date" else 2, 0).astype(np.int8)
    return which
