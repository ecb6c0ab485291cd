"""Validation messages: baseline rules (RECIST 1.1 §1) and notes on the data.

Baseline rule violations are warnings by default (real trial data contain them) and
errors in strict mode, where the patient is then not evaluated. Notes about the
data (a time point spread over several dates, ...) stay warnings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recist_tool.response._prepare import (
    NEW,
    NEW_TARGET,
    NON_TARGET,
    PRESENT,
    TARGET,
    Prepared,
    U,
    date_days,
    text_column,
)
from recist_tool.response.organs import organ_groups
from recist_tool.response.settings import ResponseSettings

MESSAGE_COLUMNS = (
    "patient_id",
    "timepoint",
    "lesion_id",
    "severity",
    "rule",
    "message",
    "file",
    "line",
    "column",
    "value",
)

#: Rules about baseline selection: errors under ``strict``.
BASELINE_RULES = frozenset(
    {
        "measurable_size",
        "nodal_target_size",
        "normal_node",
        "too_many_targets",
        "too_many_targets_in_organ",
        "baseline_non_target_status",
        "baseline_timing",
    }
)
_XRAY = {"CR", "DX", "RX", "XR"}


def _mm(units: int) -> str:
    text = f"{units / U:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def validation_messages(prep: Prepared, settings: ResponseSettings) -> pd.DataFrame:
    """All validation messages of a cohort, one row per finding."""
    out: list[tuple[int, int, int, str, str]] = []  # (patient, tp, lesion, rule, text)
    rank = prep.tp_rank[prep.row_tp]
    base = rank == 0
    kind, nodal = prep.row_kind, prep.row_nodal
    la, sa = prep.row_la, prep.row_sa

    def add_rows(mask: np.ndarray, rule: str, text) -> None:
        for r in np.flatnonzero(mask):
            out.append(
                (
                    int(prep.les_patient[prep.row_les[r]]),
                    int(prep.row_tp[r]),
                    int(prep.row_les[r]),
                    rule,
                    text(int(r)),
                )
            )

    target0 = base & (kind == TARGET)
    # Measurable: LD >= max(10 mm, 2 x slice thickness) on CT/MR, 20 mm on chest X-ray.
    modality = (
        np.char.upper(text_column(prep.frame, "modality").astype(str)).astype(object)
        if "modality" in prep.frame.columns
        else None
    )
    minimum = np.maximum(10 * U, 2 * prep.row_slice)
    if modality is not None:
        minimum = np.where(np.isin(modality, list(_XRAY)), 20 * U, minimum)
    add_rows(
        target0 & ~nodal & (la >= 0) & (la < minimum),
        "measurable_size",
        lambda r: (
            f"long axis {_mm(la[r])} mm is below the measurable minimum of "
            f"{_mm(minimum[r])} mm"
            + (f" (2 × slice thickness {_mm(prep.row_slice[r])} mm)" if minimum[r] > 10 * U else "")
            + "; not a valid target"
        ),
    )
    add_rows(
        target0 & nodal & (sa >= 0) & (sa < 15 * U),
        "nodal_target_size",
        lambda r: (
            f"short axis {_mm(sa[r])} mm: a lymph node needs a short axis of at least "
            "15 mm to be a target"
            + (" (10-15 mm: non-target)" if sa[r] >= 10 * U else " (< 10 mm: normal node)")
        ),
    )
    add_rows(
        base & (kind == NON_TARGET) & nodal & (sa >= 0) & (sa < 10 * U),
        "normal_node",
        lambda r: f"short axis {_mm(sa[r])} mm: a node below 10 mm is normal, not a lesion",
    )
    add_rows(
        base & (kind == NON_TARGET) & (prep.row_status != PRESENT),
        "baseline_non_target_status",
        lambda r: (
            "a non-target lesion is recorded as present at baseline, "
            f"not {prep.frame['status'].iat[r]!r}"
        ),
    )
    late = ~base & (kind == NON_TARGET) & (prep.les_first_rank[prep.row_les] == rank)
    incomplete = prep.baseline_incomplete[prep.les_patient[prep.row_les]]
    add_rows(
        late & ~incomplete,
        "non_target_not_at_baseline",
        lambda r: (
            "non-target lesion first recorded at follow-up: counted as a new lesion (PD); "
            "if it was missed at baseline, mark the baseline incomplete "
            "(baseline_incomplete = true)"
        ),
    )
    add_rows(
        late & incomplete,
        "non_target_not_at_baseline",
        lambda r: (
            "non-target lesion first recorded at follow-up: the baseline is marked "
            "incomplete, so it is assessed as a non-target from here on"
        ),
    )
    new_t = (kind == NEW_TARGET) & (prep.les_first_rank[prep.row_les] == rank) & ~base
    add_rows(
        new_t & ~nodal & (prep.row_status == 0) & (la >= 0) & (la < 10 * U),
        "new_target_size",
        lambda r: (
            f"new-lesion target long axis {_mm(la[r])} mm: iRECIST new-lesion targets are "
            "at least 10 mm (record it as a new-lesion non-target)"
        ),
    )
    add_rows(
        new_t & nodal & (prep.row_status == 0) & (sa >= 0) & (sa < 15 * U),
        "new_target_size",
        lambda r: (
            f"new-lesion target short axis {_mm(sa[r])} mm: an iRECIST new-lesion target "
            "node needs at least 15 mm"
        ),
    )
    add_rows(
        (kind >= NEW) & nodal & (sa < 0) & (kind != NEW_TARGET),
        "new_node_without_short_axis",
        lambda r: (
            "new lymph node without a short axis: counted as a new lesion "
            "(a new node counts only at >= 10 mm)"
        ),
    )

    # Per-patient target counts (at most 5, at most 2 per organ).
    t_les = np.flatnonzero(prep.les_kind == TARGET)
    if len(t_les):
        n_t = np.bincount(prep.les_patient[t_les], minlength=prep.n_patients)
        for p in np.flatnonzero(n_t > settings.max_targets):
            out.append(
                (
                    int(p),
                    int(prep.tp_start[p]),
                    -1,
                    "too_many_targets",
                    f"{n_t[p]} target lesions; at most {settings.max_targets} are allowed",
                )
            )
        first = prep.les_first_row[t_les]
        organ = prep.frame["organ"].iloc[first]  # only the targets' first rows
        group = organ_groups(text_column(organ.to_frame(), "organ"), prep.les_nodal[t_les])
        gcode, _ = pd.factorize(group)
        key = prep.les_patient[t_les] * (gcode.max(initial=0) + 1) + gcode
        counts = np.bincount(key)[key]
        over_mask = counts > settings.max_targets_per_organ
        df = pd.DataFrame({"p": prep.les_patient[t_les], "g": group, "les": t_les})[over_mask]
        for (p, g), sub in df.groupby(["p", "g"], sort=False):
            names = ", ".join(str(prep.les_label[i]) for i in sub["les"])
            for i in sub["les"]:
                out.append(
                    (
                        int(p),
                        int(prep.tp_start[p]),
                        int(i),
                        "too_many_targets_in_organ",
                        f"{len(sub)} targets in organ {g!r} ({names}); at most "
                        f"{settings.max_targets_per_organ} per organ (paired organs and all "
                        "lymph nodes count as one)",
                    )
                )

    if "treatment_date" in prep.frame.columns:
        _baseline_timing(prep, settings, out)
    nlt = np.flatnonzero(prep.les_kind == NEW_TARGET)
    if len(nlt):
        n_nlt = np.bincount(prep.les_patient[nlt], minlength=prep.n_patients)
        for p in np.flatnonzero(n_nlt > 5):
            out.append(
                (
                    int(p),
                    int(prep.tp_start[p]),
                    -1,
                    "too_many_new_targets",
                    f"{n_nlt[p]} new-lesion targets; iRECIST records at most 5 (2 per organ); "
                    "record the others as new-lesion non-targets",
                )
            )
    if prep.ref_kind is not None and "treatment_date" not in prep.frame.columns:
        pass
    for t in np.flatnonzero(prep.tp_multi_date):
        out.append(
            (
                int(prep.tp_patient[t]),
                int(t),
                -1,
                "timepoint_dates",
                "rows of this time point carry different dates; its date is the earliest",
            )
        )
    return _frame(prep, settings, out)


def _baseline_timing(prep: Prepared, settings: ResponseSettings, out: list) -> None:
    treat, valid, _ = date_days(prep.frame["treatment_date"])  # any year (day resolution)
    per_patient = np.full(prep.n_patients, np.iinfo(np.int64).min, dtype=np.int64)
    p_of_row = prep.les_patient[prep.row_les]
    np.maximum.at(per_patient, p_of_row[valid], treat[valid])
    for p in np.flatnonzero(per_patient > np.iinfo(np.int64).min):
        b = prep.tp_start[p]
        gap = int(per_patient[p] - prep.tp_date[b])
        if gap > settings.baseline_window_days:
            text = (
                f"baseline scan {gap} days before treatment start; at most "
                f"{settings.baseline_window_days} days are recommended"
            )
        elif gap < 0:
            text = f"baseline scan {-gap} days after treatment start"
        else:
            continue
        out.append((int(p), int(b), -1, "baseline_timing", text))


def _frame(prep: Prepared, settings: ResponseSettings, out: list) -> pd.DataFrame:
    if not out:
        out_ = pd.DataFrame({c: pd.Series(dtype=object) for c in MESSAGE_COLUMNS})
        out_["line"] = pd.array([], dtype="Int64")
        return out_
    out.sort(key=lambda m: (m[0], m[1], m[2], m[3]))
    p, t, les, rule, text = (np.array(x, dtype=object) for x in zip(*out, strict=True))
    severity = np.where(
        settings.strict & np.isin(rule, list(BASELINE_RULES)), "error", "warning"
    ).astype(object)
    lesion = np.array(
        ["" if i < 0 else prep.les_label[i] for i in les.astype(np.int64)], dtype=object
    )
    return pd.DataFrame(
        {
            "patient_id": prep.patient_ids[p.astype(np.int64)],
            "timepoint": prep.tp_label[t.astype(np.int64)],
            "lesion_id": lesion,
            "severity": severity,
            "rule": rule,
            "message": text,
            "file": "",
            "line": pd.array([None] * len(rule), dtype="Int64"),
            "column": "",
            "value": "",
        }
    )
