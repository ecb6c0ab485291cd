"""De-identification of exports: pseudonyms, date shifts and the DICOM Basic Profile.

Everything is derived from a user secret with HMAC-SHA256, so the same secret gives
the same pseudonym, date shift and UIDs in every run: tables, figures, reports and
DICOM objects de-identified separately still fit together (an SR's references point
at the de-identified images), while nobody without the secret can link a pseudonym
back to a patient by hashing candidate IDs.

* Patient IDs become ``ANON-`` plus 10 base-32 characters (50 bits).
* Dates move back by a per-patient constant of 1–``max_shift_days`` days; intervals
  between one patient's dates are kept exactly.
* DICOM objects follow the PS3.15 Basic Application Level Confidentiality Profile
  (the attribute table of PS3.15 2026c, as packaged by ``dicom-anonymizer``) with the
  Retain Longitudinal Temporal Information with Modified Dates option and, for SR,
  the Clean Structured Content option. UIDs are *replaced* consistently (never
  removed), which keeps references between objects valid.

Without de-identification the exports still never carry direct identifiers
(names, birth dates, addresses, …): :func:`drop_identifier_columns`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from recist_tool.export import ExportError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

#: Table columns that are direct identifiers: never exported unless asked for.
IDENTIFIER_COLUMNS: frozenset[str] = frozenset(
    {
        "patient_name",
        "name",
        "first_name",
        "last_name",
        "given_name",
        "family_name",
        "birth_date",
        "date_of_birth",
        "dob",
        "patient_birth_date",
        "address",
        "phone",
        "telephone",
        "email",
        "mrn",
        "medical_record_number",
        "ssn",
        "social_security_number",
        "national_id",
        "insurance_number",
        "accession_number",
        "referring_physician",
        "institution",
        "institution_name",
    }
)
#: Provenance columns (file paths may hold patient IDs): never exported.
PROVENANCE_COLUMNS: frozenset[str] = frozenset({"_source", "_line"})

#: Free-text columns: the patient ID and dates inside them are replaced too.
_FREE_TEXT_COLUMNS = frozenset({"message", "comment", "comments", "note", "notes"})
_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")

DEID_METHOD = "recist-tool: PS3.15 Basic Profile, keyed UIDs, shifted dates"


class DeidentificationError(ExportError):
    """De-identification cannot be done as asked (no secret, unreadable date, …)."""


def drop_identifier_columns(frame: pd.DataFrame, keep: Iterable[str] = ()) -> pd.DataFrame:
    """Remove direct-identifier and provenance columns from a table.

    Parameters
    ----------
    frame : pandas.DataFrame
        Any export table.
    keep : iterable of str
        Identifier columns the user explicitly asked to keep.

    Returns
    -------
    pandas.DataFrame
        A copy without the columns of :data:`IDENTIFIER_COLUMNS` (case-insensitive)
        and :data:`PROVENANCE_COLUMNS`.
    """
    keep = {k.lower() for k in keep}
    drop = [
        c
        for c in frame.columns
        if (str(c).lower() in IDENTIFIER_COLUMNS and str(c).lower() not in keep)
        or c in PROVENANCE_COLUMNS
    ]
    return frame.drop(columns=drop)


def _is_date_column(name: str) -> bool:
    name = name.lower()
    return name == "date" or name.endswith("_date")


def _is_uid_column(name: str) -> bool:
    name = name.lower()
    return name.endswith("_uid") or name == "uid"


class Deidentifier:
    """Keyed pseudonyms, per-patient date shifts and UID replacement.

    Parameters
    ----------
    secret : str or bytes
        The user's secret key (at least 8 characters). Keep it to reproduce the same
        pseudonyms later; without it they cannot be reversed or recomputed.
    max_shift_days : int
        Dates move back by 1 to this many days, constant per patient (default 365).
    prefix : str
        Pseudonym prefix (default ``"ANON-"``).
    """

    def __init__(self, secret: str | bytes, max_shift_days: int = 365, prefix: str = "ANON-"):
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if len(secret) < 8:
            raise DeidentificationError(
                "de-identification needs a secret of at least 8 characters "
                "(--secret or the RECIST_DEID_SECRET environment variable)"
            )
        if max_shift_days < 1:
            raise DeidentificationError(f"max_shift_days must be >= 1, not {max_shift_days}")
        self._key = secret
        self.max_shift_days = max_shift_days
        self.prefix = prefix

    # ------------------------------------------------------------------ primitives
    def _digest(self, purpose: str, value: str) -> bytes:
        msg = f"{purpose}\x00{value}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).digest()

    def pseudonym(self, patient_id: str) -> str:
        """Stable pseudonym of a patient ID (same secret → same pseudonym)."""
        code = base64.b32encode(self._digest("patient", str(patient_id))[:10]).decode()
        return f"{self.prefix}{code[:10]}"

    def person(self, name: str) -> str:
        """Stable pseudonym of a person (reader, observer) other than the patient."""
        code = base64.b32encode(self._digest("person", str(name))[:10]).decode()
        return f"READER-{code[:8]}"

    def shift_days(self, patient_id: str) -> int:
        """Days by which this patient's dates move back (1 … ``max_shift_days``)."""
        n = int.from_bytes(self._digest("date", str(patient_id))[:8], "big")
        return 1 + n % self.max_shift_days

    def shift_date(self, value: str | _dt.date, patient_id: str) -> str:
        """Shift one ISO date (``YYYY-MM-DD``) of a patient; empty stays empty."""
        if value is None or (isinstance(value, float) and value != value) or value == "":
            return ""
        if isinstance(value, _dt.datetime):
            value = value.date()
        if not isinstance(value, _dt.date):
            try:
                value = _dt.date.fromisoformat(str(value)[:10])
            except ValueError as exc:
                raise DeidentificationError(
                    f"patient {patient_id!r}: cannot read date {value!r} (expected YYYY-MM-DD)"
                ) from exc
        return (value - _dt.timedelta(days=self.shift_days(patient_id))).isoformat()

    def shift_label(self, label: str, patient_id: str) -> str:
        """A time point label, shifted like a date when it is one (else unchanged)."""
        m = _DATE_LABEL.match(str(label).strip())
        if not m:
            return label
        try:
            d = _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return label
        shifted = d - _dt.timedelta(days=self.shift_days(patient_id))
        return shifted.isoformat() if "-" in label else shifted.strftime("%Y%m%d")

    def scrub_text(self, text: str, patient_id: str) -> str:
        """Free text with the patient's ID pseudonymised and ISO dates shifted."""
        text = str(text).replace(str(patient_id), self.pseudonym(patient_id))
        return _ISO_DATE.sub(lambda m: self.shift_label(m.group(0), patient_id), text)

    def uid(self, uid: str) -> str:
        """Replacement for an instance UID: ``2.25.`` + 128 bits of the keyed hash."""
        n = int.from_bytes(self._digest("uid", str(uid).strip())[:16], "big")
        return f"2.25.{n}"

    # ------------------------------------------------------------------ tables
    def frame(self, frame: pd.DataFrame, patient_column: str = "patient_id") -> pd.DataFrame:
        """De-identify a results or annotation table.

        Identifier and provenance columns are dropped; the patient column becomes
        the pseudonym; every ``date``/``*_date`` column is shifted per patient;
        ``*_uid`` columns are replaced with the same UIDs as in de-identified DICOM;
        a ``reader`` column becomes a reader pseudonym. Intervals (days) are kept.

        Parameters
        ----------
        frame : pandas.DataFrame
        patient_column : str

        Returns
        -------
        pandas.DataFrame
        """
        out = drop_identifier_columns(frame)
        if patient_column not in out.columns:
            return out
        pids = out[patient_column].astype(str)
        for col in out.columns:
            if col == patient_column:
                continue
            if _is_date_column(str(col)):
                out[col] = [
                    self.shift_date(v, p) if _present(v) else v
                    for v, p in zip(out[col].tolist(), pids, strict=True)
                ]
            elif _is_uid_column(str(col)):
                out[col] = [self.uid(v) if _present(v) else v for v in out[col].tolist()]
            elif str(col).lower() == "timepoint":
                out[col] = [
                    self.shift_label(v, p) if _present(v) else v
                    for v, p in zip(out[col].tolist(), pids, strict=True)
                ]
            elif str(col).lower() in _FREE_TEXT_COLUMNS:
                out[col] = [
                    self.scrub_text(v, p) if _present(v) else v
                    for v, p in zip(out[col].tolist(), pids, strict=True)
                ]
            elif str(col).lower() == "reader":
                out[col] = [self.person(v) if _present(v) else v for v in out[col].tolist()]
        out[patient_column] = pids.map(self.pseudonym)
        return out

    # ------------------------------------------------------------------ DICOM
    def dataset(self, ds: Dataset, clean_structured_content: bool = True) -> Dataset:
        """De-identify a DICOM dataset in place (PS3.15 Basic Profile) and return it.

        Parameters
        ----------
        ds : pydicom.Dataset
            An image or SR. Its ``PatientID`` keys the pseudonym and the date shift.
        clean_structured_content : bool
            Keep an SR's content tree, cleaned (Clean Structured Content option);
            otherwise it is removed.

        Returns
        -------
        pydicom.Dataset
        """
        return _Profile(self, ds, clean_structured_content).run()


def _present(v: object) -> bool:
    return not (v is None or (isinstance(v, float) and v != v) or v == "" or v is pd.NaT)


# ---------------------------------------------------------------------------- DICOM


def _profile_actions() -> dict[int, str]:
    """Tag → action letters (e.g. ``"XZ"``) of the PS3.15 table E.1-1 (2026c)."""
    import importlib
    import pkgutil

    import dicomanonymizer.dicom_anonymization_databases as dbs

    # the newest edition of the standard the installed package carries (2026c today)
    names = sorted(
        m.name for m in pkgutil.iter_modules(dbs.__path__) if m.name.startswith("dicomfields_")
    )
    if not names:
        raise DeidentificationError("dicom-anonymizer carries no PS3.15 attribute table")
    table = importlib.import_module(f"{dbs.__name__}.{names[-1]}")

    actions: dict[int, str] = {}
    for name in (
        "D_TAGS",
        "Z_TAGS",
        "X_TAGS",
        "U_TAGS",
        "Z_D_TAGS",
        "X_Z_TAGS",
        "X_D_TAGS",
        "X_Z_D_TAGS",
        "X_Z_U_STAR_TAGS",
    ):
        letters = name.removesuffix("_TAGS").replace("_", "").replace("STAR", "*")
        for t in getattr(table, name):
            if isinstance(t, tuple) and len(t) == 2:
                actions[(t[0] << 16) | t[1]] = letters
            # ranges such as (50xx,xxxx) curves/overlays are handled by group below
    return actions


# Concepts whose TEXT values are kept when cleaning SR content (they hold no PHI:
# lesion tracking identifiers and time point labels written by this tool).
_SAFE_TEXT_CONCEPTS = {("DCM", "112039"), ("DCM", "126070"), ("DCM", "126072"), ("DCM", "126071")}
# In recist-tool's own SRs the Comment is the lesion ID and the private organ item the
# organ as written (what the de-identified tables keep too); elsewhere free text.
_OWN_SAFE_TEXT_CONCEPTS = {("DCM", "121106"), ("99RCST", "organ")}
# Time point labels: kept, but shifted like a date when they are one.
_TIME_POINT_CONCEPTS = {("UMLS", "C2348792"), ("DCM", "126070")}
_DATE_LABEL = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
_WELL_KNOWN_UID = re.compile(r"^1\.2\.840\.10008\.")


class _Profile:
    """One pass of the Basic Profile over a dataset (recursive)."""

    _actions: dict[int, str] | None = None

    def __init__(self, deid: Deidentifier, ds: Dataset, clean_content: bool):
        if _Profile._actions is None:
            _Profile._actions = _profile_actions()
        self.deid = deid
        self.ds = ds
        self.clean_content = clean_content
        self.patient_id = str(ds.get("PatientID", "") or "")
        own = any(
            str(item.get("CodingSchemeDesignator", "")) == "99RCST"
            for item in ds.get("CodingSchemeIdentificationSequence", []) or []
        )
        self.safe_text = _SAFE_TEXT_CONCEPTS | (_OWN_SAFE_TEXT_CONCEPTS if own else set())

    def run(self) -> Dataset:
        from pydicom.dataset import Dataset
        from pydicom.sequence import Sequence

        ds = self.ds
        had_content = "ContentSequence" in ds
        self._walk(ds, in_content=False)
        if getattr(ds, "file_meta", None) is not None and "MediaStorageSOPInstanceUID" in (
            ds.file_meta
        ):
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientID = self.deid.pseudonym(self.patient_id)
        ds.PatientName = f"{ds.PatientID}^"  # family name only (PS3.5 6.2.1.2)
        ds.PatientIdentityRemoved = "YES"
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
        ds.DeidentificationMethod = DEID_METHOD
        codes = [
            ("113100", "Basic Application Confidentiality Profile"),
            ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
        ]
        if had_content and self.clean_content:
            codes.append(("113104", "Clean Structured Content Option"))
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
        return ds

    # Attributes handled before the table (identity of the patient).
    _EMPTY = frozenset({0x00100030, 0x00100032})  # PatientBirthDate, PatientBirthTime

    def _walk(self, ds: Dataset, in_content: bool) -> None:
        actions = self._actions or {}
        for elem in list(ds):
            tag = int(elem.tag)
            group = tag >> 16
            if elem.tag.is_private or ((group & 0xFF00) in (0x5000, 0x6000) and group & 1 == 0):
                del ds[elem.tag]
                continue
            if tag in (0x00100010, 0x00100020):  # PatientName, PatientID: set in run()
                continue
            if tag in self._EMPTY:
                elem.value = ""
                continue
            action = actions.get(tag, "")
            vr = elem.VR
            if vr == "SQ":
                self._sequence(ds, elem, action, in_content)
                continue
            if vr == "UI":
                if elem.value:
                    elem.value = self._uid_value(elem.value)
                continue
            if vr in ("DA", "DT") and action != "X":
                elem.value = self._shift(elem.value, vr)
                continue
            if in_content and tag == 0x0040A160:  # TextValue of a content item
                concept = self._concept(ds)
                if concept in _TIME_POINT_CONCEPTS:
                    elem.value = self.deid.shift_label(str(elem.value), self.patient_id)
                elif concept not in self.safe_text:
                    elem.value = "REMOVED"
                continue
            if vr == "PN":
                if action == "D" or (in_content and tag == 0x0040A123):
                    elem.value = f"{self.deid.person(str(elem.value))}^" if elem.value else ""
                else:
                    elem.value = ""
                continue
            if vr == "TM" or not action:
                continue  # times kept (longitudinal option); attributes not in the table kept
            if "Z" in action:
                elem.value = "" if vr not in ("US", "SS", "UL", "SL", "FL", "FD") else None
            elif "X" in action:
                del ds[elem.tag]
            elif "D" in action:
                elem.value = "ANONYMIZED" if vr in ("LO", "SH", "LT", "ST", "UT", "CS") else ""
            elif "U" in action and elem.value:
                elem.value = self._uid_value(elem.value)

    def _sequence(self, ds: Dataset, elem, action: str, in_content: bool) -> None:
        tag = int(elem.tag)
        if tag == 0x0040A730:  # Content Sequence
            if self.clean_content:
                for item in elem.value:
                    self._walk(item, in_content=True)
            else:
                del ds[elem.tag]
            return
        if action and "*" not in action and "U" not in action:
            if "Z" in action:
                elem.value = []
            else:
                del ds[elem.tag]
            return
        for item in elem.value:
            self._walk(item, in_content)

    @staticmethod
    def _concept(item: Dataset) -> tuple[str, str] | None:
        seq = item.get("ConceptNameCodeSequence")
        if not seq:
            return None
        return (str(seq[0].CodingSchemeDesignator), str(seq[0].CodeValue))

    def _uid_value(self, value):
        if not isinstance(value, str):
            return [self._uid_one(v) for v in value]
        return self._uid_one(value)

    def _uid_one(self, uid: str) -> str:
        from pydicom.uid import UID_dictionary

        uid = str(uid)
        if uid in UID_dictionary or _WELL_KNOWN_UID.match(uid):
            return uid  # SOP classes, transfer syntaxes, coding schemes: not identifiers
        return self.deid.uid(uid)

    def _shift(self, value, vr: str):
        if not value:
            return value
        days = self.deid.shift_days(self.patient_id)
        values = value if isinstance(value, list | tuple) else [value]
        out = []
        for v in values:
            s = str(v)
            try:
                d = _dt.date(int(s[0:4]), int(s[4:6]), int(s[6:8]))
            except ValueError as exc:
                raise DeidentificationError(f"cannot read DICOM date {s!r}") from exc
            shifted = (d - _dt.timedelta(days=days)).strftime("%Y%m%d")
            out.append(shifted + s[8:] if vr == "DT" else shifted)
        return out if isinstance(value, list | tuple) else out[0]


def deidentify_files(
    inputs: Iterable[str | os.PathLike], outdir: str | os.PathLike, deid: Deidentifier
) -> list[Path]:
    """De-identify DICOM files (images or SRs) into ``outdir``.

    Files are written as ``<pseudonym>/<series>/<instance>.dcm`` with names made
    from the *replaced* UIDs, so no original identifier survives in a path either.
    The same secret gives the same UIDs as :func:`recist_tool.export.sr.export_readings`
    with ``deid``: de-identified SRs keep pointing at de-identified images.

    Parameters
    ----------
    inputs : iterable of path-like
        Files or folders (searched recursively; non-DICOM files are skipped).
    outdir : path-like
    deid : Deidentifier

    Returns
    -------
    list of pathlib.Path
    """
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    from recist_tool._atomic import atomic_write

    outdir = Path(outdir)
    written = []
    for root in inputs:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            try:
                ds = dcmread(f)
            except (InvalidDicomError, OSError, EOFError):
                continue
            if "SOPInstanceUID" not in ds:
                continue
            deid.dataset(ds)
            series = str(ds.get("SeriesInstanceUID", "series"))[-12:]
            path = outdir / str(ds.PatientID) / series / f"{str(ds.SOPInstanceUID)[-16:]}.dcm"
            with atomic_write(path, "wb") as fh:
                ds.save_as(fh, enforce_file_format=True)
            written.append(path)
    if not written:
        raise DeidentificationError("no DICOM file found in " + ", ".join(str(p) for p in inputs))
    return written
