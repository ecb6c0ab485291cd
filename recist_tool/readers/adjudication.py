"""Adjudication results: the chosen reading per patient (or per time point), audit-trailed.

An adjudicator chooses, for a patient, the reader whose reading stands — for the
whole patient, or per time point. The result is written to
``COHORT_DIR/readings/adjudicated/<patient>.csv`` in the annotation format with
provenance columns:

- ``reader``: the reader whose row it is (the chosen reader);
- ``adjudicator``, ``adjudication_reason``: who chose, and why;
- ``reader_lesion_id``: the lesion's id in the chosen reader's reading (differs from
  ``lesion_id`` only when a time point was taken from another reader than the
  baseline and its lesions were renamed to the baseline reader's ids).

The files follow the worklist's conventions (:mod:`recist_tool.worklist.layout`):
``readings/adjudicated/<patient>.csv`` is :func:`recist_tool.worklist.reading_path`
with the reserved reader ``adjudicated``, and every write appends one entry to
``readings/adjudicated/<patient>.audit.jsonl`` through the shared writer
:func:`recist_tool.reading.audit.append_audit` (a JSON line, fsync'ed before the CSV
is replaced; never rewritten), with the common keys (``time``, ``reader`` = the
adjudicator, ``action`` = ``adjudicate``, ``timepoint``, ``old`` / ``new`` = the
previous and the new choice, ``reason``) and the provenance (``patient_id``,
``decisions``, ``source_sha256``, ``csv_sha256``, ``previous_csv_sha256``,
``software``).
For a whole-patient choice the chosen reading's JSON sidecar is copied too (its
``reader`` and CSV checksum updated, an ``adjudication`` key added), so the
adjudicated reading reopens with its lines.

Per time point, the baseline reader's lesions govern: a follow-up taken from another
reader is renamed to the baseline reader's lesion ids through
:func:`recist_tool.readers.matching.match_lesions`, and is refused when the two
readers' baseline lesions differ (the adjudicator must then choose one reader for the
whole patient, as BICR charters do).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from recist_tool import __version__
from recist_tool.annotations import write_annotations
from recist_tool.readers.cohort import CohortReadings, ReadersError, load_cohort
from recist_tool.readers.matching import TOLERANCE_MM, match_lesions
from recist_tool.reading.audit import append_audit, audit_path, read_audit, utc_now
from recist_tool.worklist.errors import WorklistError
from recist_tool.worklist.layout import ADJUDICATED, check_reader, reading_path

PROVENANCE = ("reader", "adjudicator", "adjudication_reason", "reader_lesion_id")
DECISION_COLUMNS = ("patient_id", "timepoint", "reader", "reason", "adjudicator")
_CHOICE_RE = re.compile(r"^(?P<patient>[^=@]+?)(?:@(?P<tp>[^=]+))?=(?P<reader>.+)$")


@dataclass(frozen=True)
class Decision:
    """One adjudication decision.

    Attributes
    ----------
    patient_id : str
    reader : str
        The chosen reader.
    reason : str
        Why (required; goes into the CSV and the audit trail).
    adjudicator : str
        Who decided (required).
    timepoint : str or None
        The time point label chosen for; None = the whole patient.
    """

    patient_id: str
    reader: str
    reason: str
    adjudicator: str
    timepoint: str | None = None


def parse_choice(text: str, reason: str, adjudicator: str) -> Decision:
    """``PATIENT=READER`` or ``PATIENT@TIMEPOINT=READER`` (command line) as a Decision.

    Raises
    ------
    ReadersError
    """
    m = _CHOICE_RE.match(text.strip())
    if not m:
        raise ReadersError(
            f"--choose {text!r}: expected PATIENT=READER or PATIENT@TIMEPOINT=READER"
        )
    return _decision(m["patient"], m["tp"], m["reader"], reason, adjudicator, f"--choose {text}")


def _decision(pid, tp, reader, reason, adjudicator, where) -> Decision:
    pid = (pid or "").strip()
    if not pid:
        raise ReadersError(f"{where}: the patient is empty")
    try:
        reader = check_reader(reader or "", where)
    except WorklistError as exc:
        raise ReadersError(str(exc)) from None
    if not (reason or "").strip():
        raise ReadersError(f"{where}: a reason is required (--reason or a reason column)")
    if not (adjudicator or "").strip():
        raise ReadersError(f"{where}: the adjudicator is required (--adjudicator)")
    tp = (tp or "").strip() or None
    return Decision(pid, reader, reason.strip(), adjudicator.strip(), tp)


def read_decisions(path: str | os.PathLike, adjudicator: str | None = None) -> list[Decision]:
    """Read a decisions CSV: ``patient_id, reader, reason`` and optionally ``timepoint``
    (empty = whole patient) and ``adjudicator`` (else ``adjudicator`` given here).

    Raises
    ------
    ReadersError
        Missing columns or values, naming the file and line.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise ReadersError(f"{path}: no such file (decisions)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReadersError(f"{path}: not a readable CSV file: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in ("patient_id", "reader", "reason") if c not in frame.columns]
    if missing:
        raise ReadersError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    out = []
    for i, rec in enumerate(frame.to_dict("records")):
        who = rec.get("adjudicator", "") or (adjudicator or "")
        out.append(
            _decision(
                rec["patient_id"],
                rec.get("timepoint", ""),
                rec["reader"],
                rec["reason"],
                who,
                f"{path}: line {i + 2}",
            )
        )
    if not out:
        raise ReadersError(f"{path}: no decision rows")
    return out


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def adjudicated_path(cohort_dir: str | os.PathLike, patient_id: str) -> Path:
    """``COHORT_DIR/readings/adjudicated/<patient>.csv`` (the worklist's reading path)."""
    return reading_path(cohort_dir, patient_id, ADJUDICATED)


def _rows(cohort: CohortReadings, pid: str, reader: str) -> pd.DataFrame:
    frame = cohort.annotations.get(reader)
    if frame is None:
        raise ReadersError(f"reader {reader!r}: no finished reading in {cohort.cohort_dir}")
    rows = frame[frame["patient_id"].astype(str) == pid]
    if rows.empty:
        readers = cohort.readers_of(pid)
        raise ReadersError(
            f"patient {pid!r} has no finished reading by {reader!r} "
            f"(readers of this patient: {', '.join(readers) or 'none'})"
        )
    return rows.drop(columns=[c for c in ("_source", "_line") if c in rows.columns]).copy()


def build_adjudicated(
    cohort: CohortReadings,
    pid: str,
    decisions: Sequence[Decision],
    tolerance_mm: float = TOLERANCE_MM,
) -> pd.DataFrame:
    """The adjudicated annotation rows of one patient (nothing written).

    Raises
    ------
    ReadersError
        No baseline reader chosen, an unknown time point, conflicting decisions, or a
        per-time-point choice between readers whose baseline lesions differ.
    """
    whole = [d for d in decisions if d.timepoint is None]
    per_tp: dict[str, Decision] = {}
    for d in decisions:
        if d.timepoint is not None:
            if d.timepoint in per_tp and per_tp[d.timepoint].reader != d.reader:
                raise ReadersError(
                    f"patient {pid!r}: two readers chosen for time point {d.timepoint!r}"
                )
            per_tp[d.timepoint] = d
    if len({d.reader for d in whole}) > 1:
        raise ReadersError(f"patient {pid!r}: two readers chosen for the whole patient")
    base_rows_any = None
    if whole:
        base = whole[0]
    else:
        # The baseline's choice decides whose lesions govern.
        some = next(iter(per_tp.values()))
        base_rows_any = _rows(cohort, pid, some.reader)
        first = base_rows_any.sort_values("date")["timepoint"].astype(str).iloc[0]
        if first not in per_tp:
            raise ReadersError(
                f"patient {pid!r}: choose the baseline's reader ({pid}@{first}=READER) or "
                "a reader for the whole patient"
            )
        base = per_tp[first]
    rows = _rows(cohort, pid, base.reader)
    rows["timepoint"] = rows["timepoint"].astype(str)
    rows["lesion_id"] = rows["lesion_id"].astype(str)
    labels = list(dict.fromkeys(rows.sort_values("date")["timepoint"]))
    baseline = labels[0]
    rows["reader"] = base.reader
    rows["adjudicator"] = base.adjudicator
    rows["adjudication_reason"] = base.reason
    rows["reader_lesion_id"] = rows["lesion_id"]
    parts = []
    for tp in labels:
        d = per_tp.get(tp)
        if d is None or d.reader == base.reader:
            sub = rows[rows["timepoint"] == tp].copy()
            if d is not None:
                sub["adjudicator"], sub["adjudication_reason"] = d.adjudicator, d.reason
            parts.append(sub)
            continue
        parts.append(_taken_from(cohort, pid, base, rows, d, tp, baseline, tolerance_mm))
    unknown = sorted(set(per_tp) - set(labels))
    if unknown:
        raise ReadersError(
            f"patient {pid!r}: time point(s) {', '.join(unknown)} not in {base.reader}'s reading "
            f"(its time points: {', '.join(labels)})"
        )
    return pd.concat(parts, ignore_index=True)


def _taken_from(cohort, pid, base, rows, d, tp, baseline, tolerance_mm) -> pd.DataFrame:
    """Time point ``tp`` from reader ``d.reader``, renamed to the baseline reader's ids."""
    other = _rows(cohort, pid, d.reader)
    other["timepoint"] = other["timepoint"].astype(str)
    other["lesion_id"] = other["lesion_id"].astype(str)
    if tp not in set(other["timepoint"]):
        raise ReadersError(f"patient {pid!r}: {d.reader} has no time point {tp!r}")
    match = match_lesions(
        rows,
        other,
        cohort.path_of(pid, base.reader),
        cohort.path_of(pid, d.reader),
        tolerance_mm,
    )
    kinds_a = rows[rows["timepoint"] == baseline].set_index("lesion_id")["kind"].astype(str)
    b_base = other[other["timepoint"] == other.sort_values("date")["timepoint"].iloc[0]]
    kinds_b = b_base.set_index("lesion_id")["kind"].astype(str)
    back = {b: a for a, b in match.pairs.items()}
    differ = [
        a
        for a in kinds_a.index
        if a not in match.pairs or kinds_b.get(match.pairs[a]) != kinds_a[a]
    ]
    differ += [f"{d.reader}:{b}" for b in kinds_b.index if b not in back]
    if differ:
        raise ReadersError(
            f"patient {pid!r}: {tp} cannot be taken from {d.reader}: the readers' baseline "
            f"lesions differ ({', '.join(differ)}, matched by {match.method}); choose one "
            "reader for the whole patient"
        )
    sub = other[other["timepoint"] == tp].copy()
    sub["reader_lesion_id"] = sub["lesion_id"]
    sub["lesion_id"] = [back.get(x, f"{d.reader}:{x}") for x in sub["lesion_id"]]
    sub["reader"] = d.reader
    sub["adjudicator"] = d.adjudicator
    sub["adjudication_reason"] = d.reason
    return sub


def write_adjudications(
    cohort_dir: str | os.PathLike,
    decisions: Sequence[Decision],
    cohort: CohortReadings | None = None,
    tolerance_mm: float = TOLERANCE_MM,
) -> list[Path]:
    """Write the adjudicated readings of the decided patients, audit-trailed.

    Every patient's rows are built (and checked by the RECIST engine) before anything
    is written; for each patient the audit record is appended and fsync'ed, then the
    CSV (and sidecar) replaced atomically.

    Parameters
    ----------
    cohort_dir : path-like
    decisions : sequence of Decision
    cohort : CohortReadings, optional
        Already loaded readings (default: :func:`load_cohort` of ``cohort_dir``).

    Returns
    -------
    list of pathlib.Path
        The adjudicated CSV files written.
    """
    from recist_tool.response import evaluate

    if not decisions:
        raise ReadersError("no adjudication decision given")
    cohort = cohort or load_cohort(cohort_dir)
    by_patient: dict[str, list[Decision]] = {}
    for d in decisions:
        by_patient.setdefault(d.patient_id, []).append(d)
    built = {}
    for pid, ds in by_patient.items():
        frame = build_adjudicated(cohort, pid, ds, tolerance_mm)
        evaluate(frame, cohort.settings)  # refuses malformed rows before anything is written
        built[pid] = frame
    written = []
    now = utc_now()
    for pid, frame in built.items():
        path = adjudicated_path(cohort_dir, pid)
        trail = audit_path(path)
        ds = by_patient[pid]
        sources = {r: _sha256(cohort.path_of(pid, r)) for r in sorted({d.reader for d in ds})}
        previous = _sha256(path)
        before = [r for r in read_audit(trail) if r.get("action") == "adjudicate"]
        tmp = path.with_name(f".{path.name}.new")
        write_annotations(frame, tmp)  # written beside, renamed after the audit line
        record = append_audit(
            trail,
            {
                "time": now,
                "reader": ", ".join(dict.fromkeys(d.adjudicator for d in ds)),
                "action": "adjudicate",
                "lesion": None,
                "timepoint": _joined(d.timepoint for d in ds if d.timepoint) or None,
                "old": before[-1].get("new") if previous and before else None,
                "new": _choice(ds),
                "reason": _joined(
                    f"{d.timepoint}: {d.reason}" if d.timepoint else d.reason for d in ds
                ),
                "patient_id": pid,
                "decisions": [asdict(d) for d in ds],
                "source_sha256": sources,
                "csv_sha256": _sha256(tmp),
                "previous_csv_sha256": previous,
                "software": f"recist-tool {__version__}",
            },
        )
        os.replace(tmp, path)
        _write_sidecar(cohort, pid, ds, path, record)
        written.append(path)
    return written


def _joined(items) -> str:
    return "; ".join(dict.fromkeys(items))


def _choice(ds: Sequence[Decision]) -> str:
    """The readers chosen: ``bob``, or ``baseline=ann; fu1=bob`` per time point."""
    return _joined(f"{d.timepoint}={d.reader}" if d.timepoint else d.reader for d in ds)


def _write_sidecar(cohort, pid, ds, path: Path, record: dict) -> None:
    """Copy the chosen reading's sidecar for a whole-patient choice; else remove it."""
    from recist_tool._atomic import atomic_write_text
    from recist_tool.reading import sidecar_path

    side = sidecar_path(path)
    readers = {d.reader for d in ds}
    src = sidecar_path(cohort.path_of(pid, next(iter(readers)))) if len(readers) == 1 else None
    if src is None or not src.is_file():
        side.unlink(missing_ok=True)  # a composite (or CSV-only) reading has no sidecar
        return
    try:
        doc = json.loads(src.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        side.unlink(missing_ok=True)
        return
    doc["csv_file"] = path.name
    doc["csv_sha256"] = record["csv_sha256"]
    doc["adjudication"] = {
        "adjudicator": ds[0].adjudicator,
        "reason": ds[0].reason,
        "time": record["time"],
    }
    atomic_write_text(side, json.dumps(doc, ensure_ascii=False, separators=(",", ":")))


def accept_concordant(
    cohort_dir: str | os.PathLike,
    summary: pd.DataFrame,
    cohort: CohortReadings,
    primary: str | None = None,
    adjudicator: str = "concordant",
) -> list[Path]:
    """Write the adjudicated reading of every concordant (or single-reader) patient.

    The charter's rule for patients whose readers agree: the ``primary`` reader's
    reading (default: the first of the patient's readers in name order) stands, with
    the reason ``readers concordant (no adjudication needed)``. Patients already in
    ``readings/adjudicated`` are left alone.
    """
    decisions = []
    for rec in summary.to_dict("records"):
        if rec["status"] not in ("concordant", "single_reader"):
            continue
        pid = str(rec["patient_id"])
        if adjudicated_path(cohort_dir, pid).is_file():
            continue
        readers = str(rec["readers"]).split(";")
        reader = primary if primary in readers else readers[0]
        reason = (
            "single reader (no adjudication possible)"
            if rec["status"] == "single_reader"
            else "readers concordant (no adjudication needed)"
        )
        decisions.append(Decision(pid, reader, reason, adjudicator))
    if not decisions:
        return []
    return write_adjudications(cohort_dir, decisions, cohort)
