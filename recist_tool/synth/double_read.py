"""A synthetic double-read cohort: the founding study's cohort read by several readers.

The truth is :func:`recist_tool.synth.cohort.generate_cohort` (calibrated to the
founding study; its clinical, treatment and truth tables are kept). Each patient is
read by ``per_patient`` readers (round-robin over ``n_readers``, see
:func:`recist_tool.worklist.assign_readers`), each reading independently:

- **measurement noise**: every measured diameter is multiplied by
  ``exp(b + e)``, ``b ~ N(0, sigma_reader_lesion²)`` fixed per reader and lesion (a
  reader who measures a lesion large does so at every visit) and
  ``e ~ N(0, sigma_visit²)`` per visit; with the defaults (0.05 and 0.05) the
  coefficient of variation of a long diameter between readers is about 7 %
  (published inter-reader CVs of RECIST diameters are 5–10 %). Sizes are written to
  0.1 mm;
- **target choice**: every patient has one further measurable lesion ``X1`` (in an
  organ without a target) whose size follows the targets' sum times a log-normal
  factor (``exp(N(0, alt_response_sd²))``, the same at every follow-up); with
  probability ``p_other_target`` a reader takes it as a target instead of the last
  true target (with one target, in addition), and records the lesion
  left out as a non-target. Otherwise ``X1`` is recorded as a non-target;
- **non-target call**: with probability ``p_nontarget_progression`` a reader calls
  unequivocal progression of a non-target lesion at a random follow-up;
- **new-lesion call**: with probability ``p_new_lesion`` a reader records a new
  lesion at a random follow-up that the truth does not have, and with probability
  ``p_equivocal_new`` calls a true new lesion only equivocal.

Lesion ids are the truth's in every reading (``T1``…, ``NT1``, ``X1``, ``N1``), so
readings can be matched by id (``docs/readers.md``); readings made in the plugin are
matched by their geometry instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recist_tool.synth.cohort import Cohort, CohortParams, generate_cohort

_ALT_ORGANS = ("spleen", "peritoneum", "kidney", "liver", "lung", "bone")


@dataclass
class ReaderParams:
    """Parameters of the readers (defaults: two readers reading every patient)."""

    n_readers: int = 2
    per_patient: int = 2
    reader_names: tuple[str, ...] = ()
    sigma_reader_lesion: float = 0.05
    sigma_visit: float = 0.05
    p_other_target: float = 0.2
    alt_response_sd: float = 0.25
    p_nontarget_progression: float = 0.05
    p_new_lesion: float = 0.05
    p_equivocal_new: float = 0.25

    def names(self) -> list[str]:
        """The reader names (``reader1``, ``reader2``… unless given)."""
        if self.reader_names:
            return list(self.reader_names)
        return [f"reader{i + 1}" for i in range(self.n_readers)]


@dataclass
class DoubleReadCohort:
    """A generated multi-reader cohort."""

    cohort: Cohort  # the truth (annotations, clinical, treatments, truth)
    readings: dict[str, pd.DataFrame]  # reader -> annotation rows of its patients
    assignments: pd.DataFrame  # patient_id, reader
    truth_annotations: pd.DataFrame  # with the extra lesion X1 as a non-target
    events: pd.DataFrame  # what each reader did differently (for tests and docs)
    reader_params: ReaderParams = field(default_factory=ReaderParams)
    oracle_decisions: pd.DataFrame | None = None  # a stand-in adjudicator (see below)


def generate_double_read(
    params: CohortParams | None = None,
    readers: ReaderParams | None = None,
    seed: int = 0,
) -> DoubleReadCohort:
    """Generate a cohort and its independent readings by several readers.

    Parameters
    ----------
    params : CohortParams, optional
        The truth's parameters (the founding study's by default).
    readers : ReaderParams, optional
    seed : int
        The same seed gives the same cohort and readings.

    Returns
    -------
    DoubleReadCohort
    """
    from recist_tool.worklist import assign_readers

    rp = readers or ReaderParams()
    cohort = generate_cohort(params, seed=seed)
    rng = np.random.default_rng([seed, 14])
    names = rp.names()
    truth = _with_extra_lesion(cohort.annotations, rng, rp)
    ids = list(dict.fromkeys(truth["patient_id"]))
    assignments = pd.DataFrame(
        assign_readers(ids, names, rp.per_patient), columns=["patient_id", "reader"]
    )
    groups = {pid: g for pid, g in truth.groupby("patient_id", sort=False)}
    out: dict[str, list[pd.DataFrame]] = {r: [] for r in names}
    events = []
    for pid, reader in assignments.itertuples(index=False):
        rows, ev = _read(groups[pid], reader, rng, rp)
        out[reader].append(rows)
        events += [{"patient_id": pid, "reader": reader, "event": e} for e in ev]
    readings = {
        r: (pd.concat(parts, ignore_index=True) if parts else truth.iloc[:0])
        for r, parts in out.items()
    }
    return DoubleReadCohort(
        cohort,
        readings,
        assignments,
        truth,
        pd.DataFrame(events, columns=["patient_id", "reader", "event"]),
        rp,
        _oracle(readings, truth),
    )


def _oracle(readings: dict[str, pd.DataFrame], truth: pd.DataFrame) -> pd.DataFrame:
    """Decisions of a stand-in adjudicator who knows the truth.

    For every patient the readers disagree on (default charter rules of
    :class:`recist_tool.readers.discordance.AdjudicationRules`), the reader whose best
    overall response, first follow-up response and progression date match the truth's
    best (ties: the first reader). Only for demonstrations and tests: a real
    adjudicator looks at the images.
    """
    from recist_tool.readers.discordance import AdjudicationRules, compare_pair
    from recist_tool.response import evaluate

    rules = AdjudicationRules()
    per = {r: evaluate(f).patients.set_index("patient_id") for r, f in readings.items() if len(f)}
    ref = evaluate(truth).patients.set_index("patient_id")
    rows = []
    for pid in ref.index:
        recs = {r: p.loc[pid].to_dict() for r, p in per.items() if pid in p.index}
        names = sorted(recs)
        if len(names) < 2:
            continue
        if not any(
            compare_pair(recs[a], recs[b], rules)
            for i, a in enumerate(names)
            for b in names[i + 1 :]
        ):
            continue
        truth_rec = ref.loc[pid].to_dict()
        best = min(names, key=lambda r: len(compare_pair(recs[r], truth_rec, rules)))
        rows.append((pid, best, "synthetic oracle: this reading matches the truth best"))
    return pd.DataFrame(rows, columns=["patient_id", "reader", "reason"])


def _target_sizes(g: pd.DataFrame) -> pd.Series:
    """Sum of the true targets' diameters per time point (SA for nodes)."""
    t = g[g["kind"] == "target"]
    size = np.where(t["nodal"], t["short_axis_mm"], t["long_axis_mm"]).astype(float)
    return pd.Series(size, index=t.index).groupby(t["timepoint"], sort=False).sum()


def _with_extra_lesion(ann: pd.DataFrame, rng: np.random.Generator, rp: ReaderParams):
    """The truth plus lesion X1 (a measurable non-target with its own course)."""
    parts = []
    for _pid, g in ann.groupby("patient_id", sort=False):
        sums = _target_sizes(g)
        t = g[g["kind"] == "target"]
        gone = (t["status"] == "disappeared") | (t["nodal"] & (t["short_axis_mm"] < 10))
        complete = gone.groupby(t["timepoint"], sort=False).all()
        base = float(sums.iloc[0]) or 1.0
        used = set(g.loc[g["kind"] == "target", "organ"])
        organ = next((o for o in _ALT_ORGANS if o not in used), "soft tissue")
        ld0 = round(float(rng.uniform(12, 35)), 1)
        shift = float(rng.normal(0, rp.alt_response_sd))
        rows = []
        for tp, date in (
            g[["timepoint", "date"]].drop_duplicates("timepoint").itertuples(index=False)
        ):
            ratio = float(sums.get(tp, base)) / base
            if tp == g["timepoint"].iloc[0]:
                ld = ld0
            elif ratio <= 0 or bool(complete.get(tp, False)):
                ld = 0.0
            else:
                ld = round(ld0 * ratio * np.exp(shift), 1)
            status = "present" if ld > 0 else "absent"
            rows.append(
                (_pid, tp, date, "X1", "non_target", organ, False, ld, round(ld * 0.7, 1), status)
            )
        parts.append(g)
        parts.append(pd.DataFrame(rows, columns=g.columns[:10]))
    out = pd.concat(parts, ignore_index=True)
    return out


def _read(g: pd.DataFrame, reader: str, rng: np.random.Generator, rp: ReaderParams):
    """One reader's reading of one patient (annotation rows) and what it did."""
    g = g.copy()
    events: list[str] = []
    tps = list(dict.fromkeys(g["timepoint"]))
    follow = tps[1:]
    targets = list(dict.fromkeys(g.loc[g["kind"] == "target", "lesion_id"]))
    # Target choice: X1 instead of the last true target (with one target: in addition).
    if rng.random() < rp.p_other_target:
        x = g["lesion_id"] == "X1"
        g.loc[x, "kind"] = "target"
        g.loc[x, "status"] = np.where(g.loc[x, "long_axis_mm"] > 0, "measured", "disappeared")
        g.loc[x & (g["long_axis_mm"] == 0), ["long_axis_mm", "short_axis_mm"]] = 0.0
        if len(targets) >= 2:
            drop = targets[-1]
            d = g["lesion_id"] == drop
            nodal = bool(g.loc[d, "nodal"].iloc[0])
            size = g.loc[d, "short_axis_mm" if nodal else "long_axis_mm"].astype(float)
            small = (size < 10) if nodal else (size <= 0)
            g.loc[d, "kind"] = "non_target"
            g.loc[d, "status"] = np.where(small, "absent", "present")
            events.append(f"other target: X1 instead of {drop}")
        else:
            events.append("other target: X1 added")
    # Non-target sizes are not recorded.
    nt = g["kind"] == "non_target"
    g.loc[nt, ["long_axis_mm", "short_axis_mm"]] = np.nan
    # Measurement noise on the targets.
    tg = g["kind"] == "target"
    for lid in g.loc[tg, "lesion_id"].unique():
        b = rng.normal(0, rp.sigma_reader_lesion)
        sel = tg & (g["lesion_id"] == lid)
        e = rng.normal(0, rp.sigma_visit, int(sel.sum()))
        factor = np.exp(b + e)
        for col in ("long_axis_mm", "short_axis_mm"):
            v = g.loc[sel, col].astype(float).to_numpy()
            g.loc[sel, col] = np.round(v * factor, 1)
    meas = tg & (g["status"] == "measured")
    # A measured non-nodal target never rounds to 0 mm.
    low = meas & ~g["nodal"] & (g["long_axis_mm"] < 0.1)
    g.loc[low, "long_axis_mm"] = 0.1
    # Non-target progression call.
    has_nt = (g["kind"] == "non_target") & (g["status"] == "present")
    if follow and rng.random() < rp.p_nontarget_progression:
        cand = g[has_nt & g["timepoint"].isin(follow)]
        if len(cand):
            i = cand.index[int(rng.integers(len(cand)))]
            g.loc[i, "status"] = "progression"
            events.append(
                f"non-target progression: {g.loc[i, 'lesion_id']} at {g.loc[i, 'timepoint']}"
            )
    # New lesions: an extra one, or a true one called equivocal.
    new = g["kind"] == "new"
    if new.any() and rng.random() < rp.p_equivocal_new:
        g.loc[new, "status"] = "equivocal"
        events.append("new lesion called equivocal")
    if follow and rng.random() < rp.p_new_lesion:
        tp = follow[int(rng.integers(len(follow)))]
        first = g[g["timepoint"] == tp].iloc[0]
        extra = pd.DataFrame(
            [
                (
                    first["patient_id"],
                    tp,
                    first["date"],
                    "N9",
                    "new",
                    "liver",
                    False,
                    8.0,
                    6.0,
                    "present",
                )
            ],
            columns=g.columns[:10],
        )
        g = pd.concat([g, extra], ignore_index=True)
        events.append(f"new lesion at {tp}")
    g["reader"] = reader
    return g.reset_index(drop=True), events


def write_double_read(dr: DoubleReadCohort, cohort_dir: str | os.PathLike) -> list[Path]:
    """Write the cohort as a worklist cohort folder, every reading ``done``.

    Through the worklist's API (:class:`recist_tool.worklist.Worklist`):
    ``cohort.json`` (source ``synthetic``), ``studies.csv`` (one study per patient and
    time point, without images), ``worklist.csv`` (the readers assigned, status
    ``done``) and ``readings/<reader>/<patient>.csv`` (annotation format, ``reader``
    column), so ``recist-tool worklist status`` and the multi-reader commands read it
    as a real cohort. Also ``clinical.csv``, ``treatments.csv``, ``truth.csv``,
    ``truth_annotations.csv`` (the true lesions, ``X1`` included),
    ``reader_events.csv`` (what each reader did differently), ``oracle_decisions.csv``
    (a stand-in adjudicator's choices for the discordant patients, see
    :func:`_oracle`) and ``params.json``.

    Raises
    ------
    recist_tool.worklist.WorklistError
        The folder holds a worklist already (nothing is written).

    Returns
    -------
    list of pathlib.Path
    """
    from recist_tool._atomic import atomic_write, atomic_write_text
    from recist_tool.annotations import write_annotations
    from recist_tool.worklist import StudyRow, Worklist, reading_path

    out = Path(cohort_dir)
    c = dr.cohort
    visits = dr.truth_annotations[["patient_id", "timepoint", "date"]].drop_duplicates()
    studies = [
        StudyRow(
            patient_id=str(pid),
            study_uid=_synthetic_uid(f"{pid}/{tp}"),
            date=str(date),
            timepoint=str(tp),
            description="synthetic study (no images)",
            modalities=("CT",),
            series_count=0,
        )
        for pid, tp, date in visits.itertuples(index=False)
    ]
    pairs = list(dr.assignments.itertuples(index=False, name=None))
    source = {"kind": "synthetic", "generator": "recist-tool synth double-read"}
    wl = Worklist.create(out, studies, source, pairs)
    files = [out / "cohort.json", out / "studies.csv", out / "worklist.csv"]
    for reader, frame in dr.readings.items():
        for pid, g in frame.groupby("patient_id", sort=False):
            files.append(write_annotations(g, reading_path(out, str(pid), reader)))
    wl.mark_many(pairs, "done")
    files.append(write_annotations(dr.truth_annotations, out / "truth_annotations.csv"))
    for name, frame in (
        ("clinical.csv", c.clinical),
        ("treatments.csv", c.treatments),
        ("truth.csv", c.truth),
        ("reader_events.csv", dr.events),
        ("oracle_decisions.csv", dr.oracle_decisions),
    ):
        with atomic_write(out / name, "w") as fh:
            frame.to_csv(fh, index=False, lineterminator="\n", float_format="%.6g")
        files.append(out / name)
    params = {"cohort": asdict(c.params), "readers": asdict(dr.reader_params)}
    atomic_write_text(out / "params.json", json.dumps(params, indent=2) + "\n")
    files.append(out / "params.json")
    return files


def _synthetic_uid(key: str) -> str:
    """A stable UID under the 2.25 (UUID-derived) root for a synthetic study."""
    return "2.25." + str(int(hashlib.sha256(key.encode()).hexdigest()[:32], 16))
