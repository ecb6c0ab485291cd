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

from recist_tool.errors import AnnotationError

#: Engine units per millimetre (1 nm): decimal inputs with <= 6 decimals are exact.
U = 1_000_000

# Row status codes (kind-specific statuses share one code space).
MEASURED, TOO_SMALL, DISAPPEARED, NOT_EVALUATED = 0, 1, 2, 3
PRESENT, ABSENT, PROGRESSION = 4, 5, 6
NEW_PRESENT, NEW_EQUIVOCAL = 7, 8
TARGET, NON_TARGET, NEW = 0, 1, 2

_KIND_CODE = {"target": TARGET, "non_target": NON_TARGET, "new": NEW}
_STATUS_CODE = {
    ("target", "measured"): MEASURED,
    ("target", "too_small"): TOO_SMALL,
    ("target", "disappeared"): DISAPPEARED,
    ("target", "not_evaluated"): NOT_EVALUATED,
    ("non_target", "present"): PRESENT,
    ("non_target", "absent"): ABSENT,
    ("non_target", "progression"): PROGRESSION,
    ("non_target", "not_evaluated"): NOT_EVALUATED,
    ("new", "present"): NEW_PRESENT,
    ("new", "equivocal"): NEW_EQUIVOCAL,
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
    same = (tp_patient[1:] == tp_patient[:-1]) & (tp_date[1:] == tp_date[:-1])
    if same.any():
        t = int(np.flatnonzero(same)[0])
        raise AnnotationError(
            f"{prep.where(int(tp_first_row[t]))} and {prep.where(int(tp_first_row[t + 1]))}: "
            f"patient {patient_ids[tp_patient[t]]}: time points {prep.tp_label[t]!r} and "
            f"{prep.tp_label[t + 1]!r} have the same date "
            f"{np.datetime64(int(tp_date[t]), 'D')}; time points are ordered by date"
        )

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
    return prep


def _markers(prep: Prepared) -> np.ndarray:
    """The optional ``tumour_markers`` column: ``normal``, ``abnormal`` or empty."""
    text = np.char.lower(np.char.strip(text_column(prep.frame, "tumour_markers").astype(str)))
    bad = ~np.isin(text, ["", "normal", "abnormal"])
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise AnnotationError(
            f"{prep.where(r)}: column tumour_markers: {str(text[r])!r}: expected normal, abnormal "
            "or empty"
        )
    return text == "abnormal"


def _check_structure(prep: Prepared, row_rank: np.ndarray) -> None:
    problems: list[tuple[int, str]] = []

    def add(mask: np.ndarray, text) -> None:
        for r in np.flatnonzero(mask)[:20]:
            problems.append((int(r), text(int(r))))

    les = prep.row_les
    pid = prep.patient_ids
    label = prep.les_label

    def who(r: int) -> str:
        return f"patient {pid[prep.les_patient[les[r]]]}, lesion {label[les[r]]}"

    kinds = ("target", "non_target", "new")
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
        (prep.row_kind == NEW) & (row_rank == 0),
        lambda r: f"column kind: 'new': {who(r)} is marked new at the baseline time point",
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
        problems.sort()
        lines = [f"{prep.where(r)}: {text}" for r, text in problems[:20]]
        if len(lines) == 1:
            raise AnnotationError(lines[0])
        raise AnnotationError("bad annotation input:\n  " + "\n  ".join(lines))
