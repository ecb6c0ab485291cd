"""Which patients need an adjudicator: the readers' responses compared by charter rules.

Blinded independent central review (BICR) charters send a patient to adjudication
when the readers differ on what the trial's endpoints use: best overall response
(objective response rate) and the date of progression (PFS), sometimes the response
at the first follow-up. Each rule is a field of :class:`AdjudicationRules`; every
response compared comes from the RECIST engine (:func:`recist_tool.response.evaluate`
through :func:`recist_tool.readers.cohort.load_cohort`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from recist_tool._atomic import atomic_write, atomic_write_text
from recist_tool.readers.cohort import CohortReadings, ReadersError

#: How responses are compared: the categories that count as the same.
SCALES = {
    "exact": None,  # every RECIST category distinct
    "responder": {"CR": "responder", "PR": "responder"},  # CR/PR vs everything else
    "control": {"CR": "control", "PR": "control", "SD": "control", "NON-CR/NON-PD": "control"},
}
SUMMARY_COLUMNS = ("patient_id", "n_readers", "readers", "status", "reasons")


@dataclass(frozen=True)
class AdjudicationRules:
    """When two readings of a patient disagree enough to need an adjudicator.

    Parameters
    ----------
    best_response : bool
        Best overall responses differ (on ``scale``).
    first_followup : bool
        Overall responses at the first follow-up differ (on ``scale``).
    progression : bool
        One reader records progression and the other does not, or both do with dates
        more than ``pd_window_days`` apart.
    pd_window_days : int
        Progression dates this many days apart or fewer agree (default 28, a common
        charter window: about one assessment interval's tolerance).
    scale : {"exact", "responder", "control"}
        ``exact``: every RECIST category is distinct (CR vs PR disagrees);
        ``responder``: only CR/PR vs the rest (ORR endpoint); ``control``: only
        CR/PR/SD/NON-CR/NON-PD vs PD/NE (disease control).
    """

    best_response: bool = True
    first_followup: bool = True
    progression: bool = True
    pd_window_days: int = 28
    scale: str = "exact"

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ReadersError(
                f"unknown comparison scale {self.scale!r} (expected {', '.join(SCALES)})"
            )
        if self.pd_window_days < 0:
            raise ReadersError(f"--pd-window-days must be >= 0, not {self.pd_window_days}")

    def to_dict(self) -> dict:
        """The rules as a plain dict (for JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AdjudicationRules:
        """Rules from a dict such as :meth:`to_dict` wrote (unknown keys ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _on_scale(value: object, scale: str) -> str:
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    text = text or "NE"
    mapping = SCALES[scale]
    if mapping is None:
        return text
    return mapping.get(text, "other")


def _date(v) -> pd.Timestamp | None:
    if v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
        return None
    ts = pd.Timestamp(v)
    return None if pd.isna(ts) else ts


def compare_pair(a: dict, b: dict, rules: AdjudicationRules) -> list[str]:
    """The reasons two readings of one patient disagree (empty: they agree).

    ``a`` and ``b`` are rows of the engine's patients table (dicts).
    """
    reasons = []
    if rules.best_response and _on_scale(a["best_overall_response"], rules.scale) != _on_scale(
        b["best_overall_response"], rules.scale
    ):
        reasons.append("best overall response")
    if rules.first_followup and _on_scale(a["first_followup_response"], rules.scale) != _on_scale(
        b["first_followup_response"], rules.scale
    ):
        reasons.append("first follow-up response")
    if rules.progression:
        pa, pb = _date(a["progression_date"]), _date(b["progression_date"])
        if (pa is None) != (pb is None):
            reasons.append("progression recorded by one reader only")
        elif pa is not None and pb is not None:
            apart = abs((pa - pb).days)
            if apart > rules.pd_window_days:
                reasons.append(f"progression dates {apart} days apart (> {rules.pd_window_days})")
    return reasons


@dataclass
class Discordance:
    """The result of :func:`find_discordance`.

    Attributes
    ----------
    adjudication : pandas.DataFrame
        One row per patient needing adjudication: ``patient_id, reasons,
        progression_days_apart`` and per reader slot ``k`` (1, 2, …):
        ``reader_k, bor_k, best_response_date_k, first_followup_date_k,
        first_followup_k, progression_date_k, baseline_sum_mm_k, n_targets_k``.
    summary : pandas.DataFrame
        Every patient: ``patient_id, n_readers, readers, status, reasons`` with status
        ``discordant``, ``concordant`` or ``single_reader``.
    rules : AdjudicationRules
    """

    adjudication: pd.DataFrame
    summary: pd.DataFrame
    rules: AdjudicationRules

    def write(self, outdir: str | os.PathLike) -> list[Path]:
        """Write ``adjudication.csv``, ``concordance.csv`` and ``adjudication_rules.json``."""
        out = Path(outdir)
        paths = [out / "adjudication.csv", out / "concordance.csv"]
        for frame, path in zip((self.adjudication, self.summary), paths, strict=True):
            with atomic_write(path, "w") as fh:
                frame.to_csv(fh, index=False, lineterminator="\n", date_format="%Y-%m-%d")
        rules_path = out / "adjudication_rules.json"
        atomic_write_text(rules_path, json.dumps(self.rules.to_dict(), indent=2) + "\n")
        return [*paths, rules_path]


_SLOT_FIELDS = (
    ("bor", "best_overall_response"),
    ("best_response_date", "best_response_date"),
    ("first_followup_date", "first_followup_date"),
    ("first_followup", "first_followup_response"),
    ("progression_date", "progression_date"),
    ("baseline_sum_mm", "baseline_sum_mm"),
    ("n_targets", "n_targets"),
)


def find_discordance(cohort: CohortReadings, rules: AdjudicationRules | None = None) -> Discordance:
    """Compare every pair of readings of each patient and list those that disagree.

    Parameters
    ----------
    cohort : CohortReadings
        From :func:`recist_tool.readers.cohort.load_cohort`.
    rules : AdjudicationRules, optional

    Returns
    -------
    Discordance
    """
    rules = rules or AdjudicationRules()
    pts = cohort.patients()
    if pts.empty:
        raise ReadersError(f"{cohort.cohort_dir}: no finished reading to compare")
    by_patient = {pid: g for pid, g in pts.groupby("patient_id", sort=True)}
    width = max(len(g) for g in by_patient.values())
    rows, summary = [], []
    for pid, g in by_patient.items():
        recs = g.sort_values("reader").to_dict("records")
        readers = [r["reader"] for r in recs]
        if len(recs) < 2:
            summary.append((pid, 1, readers[0], "single_reader", ""))
            continue
        reasons: list[str] = []
        for i in range(len(recs)):
            for j in range(i + 1, len(recs)):
                for why in compare_pair(recs[i], recs[j], rules):
                    if why not in reasons:
                        reasons.append(why)
        status = "discordant" if reasons else "concordant"
        summary.append((pid, len(recs), ";".join(readers), status, "; ".join(reasons)))
        if not reasons:
            continue
        dates = [_date(r["progression_date"]) for r in recs]
        known = [d for d in dates if d is not None]
        apart = (max(known) - min(known)).days if len(known) >= 2 else np.nan
        row: dict = {"patient_id": pid, "reasons": "; ".join(reasons)}
        row["progression_days_apart"] = apart
        for k in range(width):
            rec = recs[k] if k < len(recs) else None
            row[f"reader_{k + 1}"] = rec["reader"] if rec else ""
            for short, col in _SLOT_FIELDS:
                v = rec[col] if rec else None
                if isinstance(v, pd.Timestamp):
                    v = None if pd.isna(v) else v.strftime("%Y-%m-%d")
                row[f"{short}_{k + 1}"] = v
        rows.append(row)
    cols = ["patient_id", "reasons", "progression_days_apart"] + [
        f"{name}_{k + 1}"
        for k in range(width)
        for name in ("reader", *(s for s, _ in _SLOT_FIELDS))
    ]
    adjudication = pd.DataFrame(rows, columns=cols)
    if len(adjudication):
        adjudication["progression_days_apart"] = adjudication["progression_days_apart"].astype(
            "Int64"
        )
    return Discordance(adjudication, pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS)), rules)


def adjudication_table(
    cohort_dir: str | os.PathLike,
    rules: AdjudicationRules | None = None,
    cohort: CohortReadings | None = None,
) -> tuple[pd.DataFrame, bool]:
    """The cohort's ``adjudication.csv`` as text cells; written first when missing.

    What ``recist-tool adjudicate COHORT_DIR`` writes: when the file is not there yet,
    the readings are loaded (:func:`~recist_tool.readers.cohort.load_cohort`),
    compared (:func:`find_discordance`) and ``adjudication.csv``, ``concordance.csv``
    and ``adjudication_rules.json`` written into ``cohort_dir``.

    Returns
    -------
    (pandas.DataFrame, bool)
        The table (every cell a string, empty where none) and whether it was written now.

    Raises
    ------
    ReadersError
        The file is not a readable CSV or has no ``patient_id`` column; or, when it is
        computed, what :func:`load_cohort` and :func:`find_discordance` raise.
    """
    from recist_tool.readers.cohort import load_cohort

    path = Path(cohort_dir) / "adjudication.csv"
    written = False
    if not path.is_file():
        found = find_discordance(cohort or load_cohort(cohort_dir), rules)
        found.write(cohort_dir)
        written = True
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReadersError(f"{path}: not a readable CSV file: {exc}") from None
    if "patient_id" not in table.columns:
        raise ReadersError(f"{path}: line 1: missing column patient_id")
    return table, written
