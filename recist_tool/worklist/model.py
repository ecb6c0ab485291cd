"""The cohort folder and its worklist: who reads which patient, how far they are.

Layout of ``COHORT_DIR``::

    cohort.json                  # where the images come from (folder or PACS + query)
    studies.csv                  # one row per patient and study: date, proposed time point
    worklist.csv                 # one row per patient and reader: status, time points
    cache/<StudyInstanceUID>/    # PACS cohorts: studies pulled (resumable, checked)
    readings/<reader>/<patient>.csv        # the reader's annotation CSV (batch input)
    readings/<reader>/<patient>.json       # its sidecar (lines)
    readings/<reader>/<patient>.audit.jsonl, <patient>.signoff.json
    readings/adjudicated/<patient>.csv     # adjudicated readings (+ .json, .audit.jsonl),
                                           # written by recist-tool adjudicate
    adjudication.csv             # double reading: the discordant patients

File names and reader names are defined once, in :mod:`recist_tool.worklist.layout`;
audit trails are written by :func:`recist_tool.reading.audit.append_audit`.
``recist-tool batch COHORT_DIR/readings/<reader>`` computes a reader's cohort. A
reader's files are in their own folder only, so a blinded reader's tools open
nothing else. ``worklist.csv`` is rewritten atomically under a lock file, so two
readers working at once on a shared folder do not lose each other's updates.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recist_tool._atomic import atomic_write_text
from recist_tool.worklist.build import StudyRow
from recist_tool.worklist.errors import WorklistError
from recist_tool.worklist.layout import (
    ADJUDICATED,
    ADJUDICATION_FILE,
    COHORT_FILE,
    FINISHED,
    STATUSES,
    STUDIES_FILE,
    WORKLIST_FILE,
    adjudication_patients,
    check_reader,
    patient_file_stem,
    reader_dir,
    reading_path,
    readings_dir,
)

if TYPE_CHECKING:
    from recist_tool.dicom.scan import SeriesInfo
    from recist_tool.pacs import PacsClient, PullProgress
    from recist_tool.reading import Reading

COHORT_FORMAT = "recist-tool-cohort"
WORKLIST_COLUMNS = (
    "patient_id",
    "reader",
    "status",
    "timepoints",
    "studies",
    "updated_at",
    "signed_at",
)
STUDY_COLUMNS = (
    "patient_id",
    "timepoint",
    "date",
    "study_uid",
    "description",
    "modalities",
    "series_count",
    "location",
)


@dataclass
class Entry:
    """One patient for one reader (a row of ``worklist.csv``).

    ``reader`` is empty for a patient not assigned yet (any reader may take it).
    """

    patient_id: str
    reader: str
    status: str = "not_started"
    timepoints: list[tuple[str, str]] = field(default_factory=list)  # (label, date)
    studies: int = 0
    updated_at: str = ""
    signed_at: str = ""

    @property
    def finished(self) -> bool:
        """Done or signed."""
        return self.status in FINISHED


@dataclass(frozen=True)
class TimePointPlan:
    """A time point of a patient: its studies and where their files are."""

    label: str
    date: str
    studies: tuple[StudyRow, ...]
    folders: tuple[Path, ...]  # local folders (empty for PACS studies not pulled yet)

    @property
    def local(self) -> bool:
        """Whether every study of the time point is on disk."""
        return len(self.folders) == len(self.studies)


@dataclass(frozen=True)
class SeriesChoice:
    """A series a reader may open for a time point; ``proposed`` marks the one to open."""

    timepoint: str
    date: str
    study_uid: str
    info: SeriesInfo
    proposed: bool


def _counts(rows: Sequence[Entry]) -> dict[str, int]:
    c = Counter(e.status for e in rows)
    out = {s: c.get(s, 0) for s in STATUSES}
    out["total"] = len(rows)
    out["finished"] = sum(out[s] for s in FINISHED)
    return out


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Worklist:
    """A cohort folder: its studies, the worklist and the readers' readings.

    Open one with :meth:`open`; make one with :meth:`create` (the CLI's
    ``recist-tool worklist init``). Methods that change the worklist re-read it under
    the lock first, so concurrent readers do not overwrite each other.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.meta: dict[str, Any] = {}
        self.studies: list[StudyRow] = []
        self.entries_: list[Entry] = []

    # ------------------------------------------------------------------ files

    @property
    def cache_dir(self) -> Path:
        """Where PACS studies are pulled (``COHORT_DIR/cache`` unless set at init)."""
        c = self.meta.get("cache") or "cache"
        return (self.root / c) if not os.path.isabs(c) else Path(c)

    @property
    def source(self) -> dict[str, Any]:
        """``{"kind": "folder", "path": …}`` or ``{"kind": "pacs", "url": …, "query": …}``."""
        return dict(self.meta.get("source", {}))

    @classmethod
    def create(
        cls,
        root: str | os.PathLike,
        studies: Sequence[StudyRow],
        source: dict[str, Any],
        assignments: Sequence[tuple[str, str]] | None = None,
        modality: str | None = "CT",
        cache: str | None = None,
        replace_existing: bool = False,
    ) -> Worklist:
        """Write a new cohort folder (``cohort.json``, ``studies.csv``, ``worklist.csv``).

        Parameters
        ----------
        root : path-like
        studies : sequence of StudyRow
            With proposed time points (:func:`~recist_tool.worklist.build.propose_timepoints`).
        source : dict
            Where the studies come from (kept in ``cohort.json``).
        assignments : sequence of (patient_id, reader), optional
            E.g. :func:`~recist_tool.worklist.layout.assign_readers` or
            :func:`~recist_tool.worklist.layout.read_assignments`. Default, and for
            patients the assignments leave out: one unassigned row per patient.
        modality : str, optional
        cache : str, optional
            Cache folder for PACS studies (default ``cache`` inside the cohort).
        replace_existing : bool
            Overwrite an existing worklist (readings are never touched).
        """
        root = Path(root)
        if (root / WORKLIST_FILE).exists() and not replace_existing:
            raise WorklistError(
                f"{root}: holds a worklist already (readings are kept; pass --force to "
                "write a new worklist.csv)"
            )
        patients = sorted({s.patient_id for s in studies})
        pairs = list(assignments) if assignments is not None else [(p, "") for p in patients]
        unknown = sorted({p for p, _ in pairs} - set(patients))
        if unknown:
            raise WorklistError(
                f"assignments name patient(s) without a study: {', '.join(unknown[:10])}"
            )
        for _, r in pairs:
            if r:
                check_reader(r)
        named = {p for p, _ in pairs}
        pairs += [(p, "") for p in patients if p not in named]  # left out: anyone may take it
        wl = cls(root)
        if source.get("kind") == "folder" and "path" in source:
            source = {**source, "path": wl._rel(source["path"])}
        readers = sorted({r for _, r in pairs if r})
        wl.meta = {
            "format": COHORT_FORMAT,
            "version": 1,
            "created_at": _now(),
            "source": source,
            "modality": modality,
            "cache": cache or "cache",
            "readers": readers,
        }
        wl.studies = [
            replace(s, location=wl._rel(s.location)) if s.location else s for s in studies
        ]
        by_p = wl._timepoints_by_patient()
        n_studies = Counter(s.patient_id for s in wl.studies)
        order = {p: i for i, p in enumerate(patients)}
        pairs.sort(key=lambda pr: (order[pr[0]], pr[1]))
        wl.entries_ = [Entry(p, r, "not_started", by_p.get(p, []), n_studies[p]) for p, r in pairs]
        root.mkdir(parents=True, exist_ok=True)
        readings_dir(root).mkdir(exist_ok=True)
        with wl._locked():
            for e in wl.entries_:  # readings already in the folder keep their state
                wl._refresh(e)
            atomic_write_text(root / COHORT_FILE, json.dumps(wl.meta, indent=1) + "\n")
            wl._write_studies()
            wl._write_entries()
        return wl

    @classmethod
    def open(cls, root: str | os.PathLike) -> Worklist:
        """Read a cohort folder made by :meth:`create`."""
        wl = cls(root)
        p = wl.root / COHORT_FILE
        try:
            wl.meta = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise WorklistError(
                f"{wl.root}: not a cohort folder (no cohort.json; make one with "
                "'recist-tool worklist init')"
            ) from None
        except (OSError, ValueError) as exc:
            raise WorklistError(f"{p}: cannot read ({exc})") from None
        if wl.meta.get("format") != COHORT_FORMAT:
            raise WorklistError(f"{p}: not a recist-tool cohort file")
        wl.studies = wl._read_studies()
        wl.entries_ = wl._read_entries()
        return wl

    def reload(self) -> None:
        """Re-read ``studies.csv`` and ``worklist.csv`` (another reader may have written)."""
        self.studies = self._read_studies()
        self.entries_ = self._read_entries()

    def _rel(self, path: str | os.PathLike) -> str:
        p = Path(path).resolve()
        try:
            return str(p.relative_to(self.root.resolve()))
        except ValueError:
            return str(p)

    def _abs(self, location: str) -> Path:
        p = Path(location)
        return p if p.is_absolute() else self.root / p

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".worklist.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _timepoints_by_patient(self) -> dict[str, list[tuple[str, str]]]:
        out: dict[str, list[tuple[str, str]]] = {}
        for s in sorted(self.studies, key=lambda s: (s.patient_id, s.date)):
            if s.timepoint and (s.timepoint, s.date) not in out.setdefault(s.patient_id, []):
                out[s.patient_id].append((s.timepoint, s.date))
        return out

    def _write_studies(self) -> None:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(STUDY_COLUMNS)
        for s in self.studies:
            w.writerow(
                [
                    s.patient_id,
                    s.timepoint,
                    s.date,
                    s.study_uid,
                    s.description,
                    "/".join(s.modalities),
                    "" if s.series_count is None else s.series_count,
                    s.location,
                ]
            )
        atomic_write_text(self.root / STUDIES_FILE, buf.getvalue())

    def _read_studies(self) -> list[StudyRow]:
        rows = self._csv(STUDIES_FILE, STUDY_COLUMNS)
        out = []
        for line, r in rows:
            if not r["patient_id"] or not r["study_uid"]:
                raise WorklistError(
                    f"{self.root / STUDIES_FILE}: line {line}: empty patient_id or study_uid"
                )
            n = r["series_count"]
            out.append(
                StudyRow(
                    patient_id=r["patient_id"],
                    study_uid=r["study_uid"],
                    date=r["date"],
                    timepoint=r["timepoint"],
                    description=r["description"],
                    modalities=tuple(m for m in r["modalities"].split("/") if m),
                    series_count=int(n) if n.isdigit() else None,
                    location=r["location"],
                )
            )
        return out

    def _csv(self, name: str, columns: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
        p = self.root / name
        try:
            text = p.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise WorklistError(f"{p}: missing (make the cohort with 'worklist init')") from None
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise WorklistError(f"{p}: line 1: missing column(s) {', '.join(missing)}")
        out = []
        for r in reader:
            out.append((reader.line_num, {k: (v or "").strip() for k, v in r.items() if k}))
        return out

    def _write_entries(self) -> None:
        by_p = self._timepoints_by_patient()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(WORKLIST_COLUMNS)
        for e in self.entries_:
            e.timepoints = by_p.get(e.patient_id, [])
            tps = ";".join(f"{lb}={d}" for lb, d in e.timepoints)
            w.writerow(
                [e.patient_id, e.reader, e.status, tps, e.studies, e.updated_at, e.signed_at]
            )
        atomic_write_text(self.root / WORKLIST_FILE, buf.getvalue())

    def _read_entries(self) -> list[Entry]:
        p = self.root / WORKLIST_FILE
        out = []
        for line, r in self._csv(WORKLIST_FILE, WORKLIST_COLUMNS):
            if r["status"] not in STATUSES:
                raise WorklistError(
                    f"{p}: line {line}: column status: {r['status']!r}: expected one of "
                    f"{', '.join(STATUSES)}"
                )
            tps = []
            for part in filter(None, r["timepoints"].split(";")):
                label, _, date = part.partition("=")
                tps.append((label.strip(), date.strip()))
            out.append(
                Entry(
                    r["patient_id"],
                    r["reader"],
                    r["status"],
                    tps,
                    int(r["studies"]) if r["studies"].isdigit() else 0,
                    r["updated_at"],
                    r["signed_at"],
                )
            )
        return out

    def _update(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on freshly read entries under the lock, then write them."""
        with self._locked():
            self.entries_ = self._read_entries()
            try:
                result = fn()
            except BaseException:
                self.entries_ = self._read_entries()  # nothing half-changed stays in memory
                raise
            self._write_entries()
        return result

    # ---------------------------------------------------------------- queries

    def patients(self) -> list[str]:
        """Patient IDs in worklist order."""
        return list(dict.fromkeys(e.patient_id for e in self.entries_))

    def entries(
        self,
        reader: str | None = None,
        status: str | Sequence[str] | None = None,
        text: str | None = None,
    ) -> list[Entry]:
        """Worklist rows, filtered.

        Parameters
        ----------
        reader : str, optional
            This reader's rows, plus unassigned patients the reader has no row for
            (shown as the reader's, not started). A reader never sees another
            reader's rows.
        status : str or sequence of str, optional
        text : str, optional
            Case-insensitive substring of the patient ID.
        """
        rows = self.entries_
        if reader is not None:
            own = [e for e in rows if e.reader == reader]
            mine = {e.patient_id for e in own}
            pool = [
                replace(e, reader=reader)
                for e in rows
                if e.reader == "" and e.patient_id not in mine
            ]
            order = {p: i for i, p in enumerate(self.patients())}
            rows = sorted(own + pool, key=lambda e: order.get(e.patient_id, 0))
        if status is not None:
            want = {status} if isinstance(status, str) else set(status)
            rows = [e for e in rows if e.status in want]
        if text:
            t = text.lower()
            rows = [e for e in rows if t in e.patient_id.lower()]
        return rows

    def entry(self, patient_id: str, reader: str) -> Entry:
        """The row of a patient for a reader (an unassigned patient counts as theirs)."""
        for e in self.entries(reader=reader):
            if e.patient_id == patient_id:
                return e
        if patient_id not in self.patients():
            raise WorklistError(f"{self.root}: patient {patient_id!r} is not in the worklist")
        raise WorklistError(f"patient {patient_id} is not assigned to reader {reader!r}")

    def progress(self, reader: str | None = None) -> dict[str, int]:
        """Counts by status (and ``total``, ``finished`` = done + signed)."""
        return _counts(self.entries(reader=reader) if reader is not None else self.entries_)

    def progress_by_reader(self) -> dict[str, dict[str, int]]:
        """:meth:`progress` per reader (``""`` = unassigned patients)."""
        readers = sorted({e.reader for e in self.entries_})
        return {r: _counts([e for e in self.entries_ if e.reader == r]) for r in readers}

    def adjudication_progress(self) -> dict[str, int] | None:
        """Double reading: how many discordant patients have their adjudicated reading.

        ``None`` before ``recist-tool adjudicate`` wrote ``adjudication.csv`` (and no
        adjudicated reading exists); else ``discordant`` (patients in
        ``adjudication.csv``), ``adjudicated`` (of those, with
        ``readings/adjudicated/<patient>.csv``) and ``readings`` (adjudicated readings
        in all, concordant patients' included).
        """
        folder = self.reading_dir(ADJUDICATED)
        done = {p.stem for p in folder.glob("*.csv")} if folder.is_dir() else set()
        discordant = adjudication_patients(self.root)
        if not discordant and not done and not (self.root / ADJUDICATION_FILE).exists():
            return None
        return {
            "discordant": len(discordant),
            "adjudicated": sum(patient_file_stem(p) in done for p in discordant),
            "readings": len(done),
        }

    def next_patient(self, reader: str, after: str | None = None) -> Entry | None:
        """The reader's next unfinished patient after ``after`` (wrapping), or None."""
        rows = self.entries(reader=reader)
        ids = [e.patient_id for e in rows]
        start = ids.index(after) + 1 if after in ids else 0
        for e in rows[start:] + rows[:start]:
            if not e.finished and e.patient_id != after:
                return e
        return None

    def plan(self, patient_id: str) -> list[TimePointPlan]:
        """The patient's time points, their studies and local folders, by date."""
        studies = [s for s in self.studies if s.patient_id == patient_id]
        if not studies:
            raise WorklistError(f"{self.root}: patient {patient_id!r} is not in the worklist")
        from recist_tool.pacs.cache import read_index, study_folder

        groups: dict[tuple[str, str], list[StudyRow]] = {}
        for s in sorted(studies, key=lambda s: (s.date == "", s.date, s.study_uid)):
            groups.setdefault((s.timepoint, s.date), []).append(s)
        out = []
        for (label, date), rows in groups.items():
            folders = []
            for s in rows:
                if s.location:
                    folders.append(self._abs(s.location))
                elif read_index(self.cache_dir, s.study_uid) is not None:
                    folders.append(study_folder(self.cache_dir, s.study_uid))
            out.append(TimePointPlan(label, date, tuple(rows), tuple(folders)))
        return out

    def fetch(
        self,
        patient_id: str,
        client: PacsClient | None = None,
        progress: Callable[[PullProgress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[Path]:
        """Pull the patient's PACS studies into the cohort cache (resumable); their folders.

        Folder cohorts need nothing: their folders are returned as they are.
        """
        from recist_tool.pacs import PacsClient, pull_study

        folders = []
        own = None
        for tp in self.plan(patient_id):
            for s in tp.studies:
                if s.location:
                    folders.append(self._abs(s.location))
                    continue
                if client is None:
                    url = self.source.get("url")
                    if not url:
                        raise WorklistError(
                            f"{self.root}: study {s.study_uid} has no folder "
                            "and the cohort has no PACS URL"
                        )
                    client = own = PacsClient(url)
                mod = self.meta.get("modality")
                res = pull_study(
                    client,
                    s.study_uid,
                    self.cache_dir,
                    modality=mod,
                    progress=progress,
                    should_stop=should_stop,
                )
                folders.append(res.folder)
        if own is not None:
            own.close()
        return folders

    def series_to_open(self, patient_id: str) -> list[SeriesChoice]:
        """Every image series of the patient's local studies, by time point.

        One per time point is ``proposed``: the loadable series of the cohort's
        modality with most images (then the thinnest slices). Reads headers only.

        Raises
        ------
        WorklistError
            When a PACS study is not in the cache yet (:meth:`fetch` it first).
        """
        import warnings

        from recist_tool.dicom import scan

        out: list[SeriesChoice] = []
        modality = (self.meta.get("modality") or "").upper()
        for tp in self.plan(patient_id):
            if not tp.local:
                raise WorklistError(
                    f"patient {patient_id}, time point {tp.label or '(no date)'}: study not in "
                    "the cache yet: fetch it first ('recist-tool worklist pull')"
                )
            uids = {s.study_uid for s in tp.studies}
            found = []
            for folder in dict.fromkeys(tp.folders):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    found += [s for s in scan(folder) if s.study_instance_uid in uids]
            ok = [s for s in found if s.loadable and (not modality or s.modality == modality)]
            best = max(ok, key=lambda s: (s.frame_count, -(s.slice_thickness or 0)), default=None)
            out += [
                SeriesChoice(tp.label, tp.date, s.study_instance_uid, s, s is best) for s in found
            ]
        return out

    # ---------------------------------------------------------------- readings

    def reading_dir(self, reader: str) -> Path:
        """A reader's folder of readings (``recist-tool batch`` input)."""
        return reader_dir(self.root, reader)

    def reading_path(self, patient_id: str, reader: str) -> Path:
        """The annotation CSV of a patient's reading by a reader (or ``adjudicated``)."""
        return reading_path(self.root, patient_id, reader)

    def load_reading(self, patient_id: str, reader: str) -> Reading:
        """The reader's reading of a patient: saved one, or a new one with its time points."""
        from recist_tool.reading import Reading

        self.entry(patient_id, reader)
        path = self.reading_path(patient_id, reader)
        if path.exists():
            reading = Reading.load(path)
        else:
            reading = Reading(patient_id=patient_id, reader=reader)
            for tp in self.plan(patient_id):
                if tp.label and tp.date:
                    reading.set_timepoint(tp.label, tp.date)
        reading.reader = reader
        return reading

    def signoff(self, patient_id: str, reader: str):
        """The :class:`~recist_tool.reading.signoff.SignOff` of a patient's reading."""
        from recist_tool.reading.signoff import SignOff

        return SignOff(self.reading_path(patient_id, reader))

    def save_reading(self, reading: Reading, reader: str | None = None) -> Path:
        """Save a reading into the reader's folder (CSV with ``signed_at`` + sidecar).

        The worklist row goes to ``in_progress`` when it was ``not_started``. Nothing is
        written for a patient opened and left
        (:func:`recist_tool.reading.policy.nothing_to_write`); the path is returned all
        the same.
        """
        reader = check_reader(reader or reading.reader)
        if reading.patient_id not in self.patients():
            raise WorklistError(f"patient {reading.patient_id!r} is not in the worklist")
        self.entry(reading.patient_id, reader)
        reading.reader = reader
        path = self.reading_path(reading.patient_id, reader)
        from recist_tool.reading.policy import nothing_to_write

        if nothing_to_write(reading, path):
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        so = self.signoff(reading.patient_id, reader)
        reading.save(path, so.stamp(reading.to_frame()))
        self._update(lambda: self._refresh(self._claim(reading.patient_id, reader)))
        return path

    def _claim(self, patient_id: str, reader: str) -> Entry:
        for e in self.entries_:
            if e.patient_id == patient_id and e.reader == reader:
                return e
        for e in self.entries_:
            if e.patient_id == patient_id and e.reader == "":
                e.reader = reader  # an unassigned patient becomes the reader's
                return e
        raise WorklistError(f"patient {patient_id} is not assigned to reader {reader!r}")

    def _refresh(self, e: Entry) -> Entry:
        """Status from the files: signed (all time points), else in progress if saved."""
        if not e.reader:
            return e
        path = self.reading_path(e.patient_id, e.reader)
        if not path.exists():
            return e
        from recist_tool.reading import Reading
        from recist_tool.reading.signoff import SignOff

        so = SignOff(path)
        if so.signatures and so.patient_signed(Reading.load(path)):
            e.status = "signed"
            e.signed_at = max(s.signed_at for s in so.signatures.values())
        else:
            e.signed_at = ""
            if e.status in ("not_started", "signed"):
                e.status = "in_progress"
        e.updated_at = _now()
        return e

    def mark(self, patient_id: str, reader: str, status: str) -> Entry:
        """Set a row's status to ``in_progress`` or ``done`` (``signed``: :meth:`sign`)."""
        return self.mark_many([(patient_id, reader)], status)[0]

    def mark_many(self, rows: Sequence[tuple[str, str]], status: str) -> list[Entry]:
        """:meth:`mark` for several ``(patient_id, reader)`` rows, in one worklist write.

        Nothing is changed unless every row can be marked.
        """
        if status not in ("in_progress", "done"):
            raise WorklistError(
                f"status {status!r}: mark in_progress or done; sign with 'worklist sign'"
            )
        for patient_id, reader in rows:
            if not self.reading_path(patient_id, reader).exists():
                raise WorklistError(
                    f"patient {patient_id}: reader {reader} has saved no reading yet"
                )

        def do() -> list[Entry]:
            out = []
            for patient_id, reader in rows:
                e = self._claim(patient_id, reader)
                if e.status == "signed":
                    raise WorklistError(f"patient {patient_id} is signed by {reader}: reopen first")
                out.append(e)
            now = _now()
            for e in out:
                e.status, e.updated_at = status, now
            return out

        return self._update(do)

    def sign(self, patient_id: str, reader: str, timepoint: str | None = None) -> Entry:
        """Sign a time point (or every one) of the reader's reading; lock it.

        The CSV is rewritten with ``signed_at``; the row becomes ``signed`` once
        every time point is.
        """
        path = self.reading_path(patient_id, reader)
        if not path.exists():
            raise WorklistError(f"patient {patient_id}: reader {reader} has saved no reading yet")
        reading = self.load_reading(patient_id, reader)
        so = self.signoff(patient_id, reader)
        so.sign(reading, reader, timepoint)
        reading.save(path, so.stamp(reading.to_frame()))
        return self._update(lambda: self._refresh(self._claim(patient_id, reader)))

    def import_annotations(
        self,
        files: Sequence[str | os.PathLike],
        reader: str,
        replace_existing: bool = False,
    ) -> list[Path]:
        """Take measurements made elsewhere as a reader's readings (one file per patient).

        Annotation CSVs with a sidecar keep their lines; others are split by
        patient (sizes only). Each import is audit-trailed.
        """
        from recist_tool.annotations import annotation_files, read_annotations
        from recist_tool.reading import Reading, sidecar_path
        from recist_tool.reading.audit import append_audit, audit_path

        reader = check_reader(reader)
        readings: list[tuple[Reading, Path]] = []
        for f in annotation_files(list(files)):
            if sidecar_path(f).is_file():
                readings.append((Reading.load(f), f))
                continue
            frame = read_annotations(f)
            for _, rows in frame.groupby(frame["patient_id"].astype(str), sort=True, observed=True):
                readings.append((Reading.from_frame(rows), f))
        unknown = sorted({r.patient_id for r, _ in readings} - set(self.patients()))
        if unknown:
            raise WorklistError(f"patient(s) not in the worklist: {', '.join(unknown[:10])}")
        seen = Counter(r.patient_id for r, _ in readings)
        twice = [p for p, n in seen.items() if n > 1]
        if twice:
            raise WorklistError(f"patient {twice[0]} is in several files given")
        out = []
        for reading, src in readings:
            path = self.reading_path(reading.patient_id, reader)
            if path.exists() and not replace_existing:
                raise WorklistError(
                    f"{path}: reader {reader} has a reading of {reading.patient_id} already "
                    "(pass --replace to overwrite it)"
                )
            self.entry(reading.patient_id, reader)
            out.append(self.save_reading(reading, reader))
            append_audit(
                audit_path(path),
                {
                    "reader": reader,
                    "action": "import",
                    "lesion": None,
                    "timepoint": None,
                    "old": None,
                    "new": str(src),
                    "reason": "",
                },
            )
        return out
