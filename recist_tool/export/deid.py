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

#: Columns of coded values (never free text): left as they are.
CODED_COLUMNS: frozenset[str] = frozenset(
    {
        "kind", "status", "nodal", "severity", "rule", "modality", "fragment",
        "target_response", "non_target_response", "new_lesions", "overall_response",
        "best_overall_response", "first_followup_response", "tumour_markers",
        "endpoint", "analysis", "predictor", "group",
    }
)  # fmt: skip

# Dates inside free text. Year-first forms are shifted (the same shift as the
# patient's date columns, so intervals stay true); day/month-first and month-name
# forms are ambiguous or partial, and are removed.
_NUMERIC_DATE = re.compile(
    r"(?<![0-9])(?P<y>(?:1[89]|20)\d\d)(?P<s>[-./]?)(?P<m>[01]\d)(?P=s)(?P<d>[0-3]\d)(?![0-9])"
)
_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    "sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_OTHER_DATE = re.compile(
    r"(?<![0-9])\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})(?![0-9])"  # 15.01.2024, 1/15/24
    rf"|(?<![a-z])(?:\d{{1,2}}(?:st|nd|rd|th)?[ -]?(?:{_MONTHS})\.?,?[ -]?(?:\d{{4}}|\d{{2}})?"
    rf"|(?:{_MONTHS})\.?[ -]?(?:\d{{1,2}}(?:st|nd|rd|th)?,?[ -]?)?\d{{2,4}})(?![a-z0-9])",
    re.IGNORECASE,
)
DATE_REMOVED = "[date]"
ID_REMOVED = "[id]"

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
        try:
            return (value - _dt.timedelta(days=self.shift_days(patient_id))).isoformat()
        except OverflowError:
            raise DeidentificationError(
                f"patient {patient_id!r}: date {value.isoformat()} cannot be shifted "
                f"{self.shift_days(patient_id)} days back (before year 1)"
            ) from None

    def shift_label(self, label: str, patient_id: str) -> str:
        """A time point label with the dates and identifiers inside it scrubbed
        (:meth:`scrub_text`); a label that is a date becomes the shifted date."""
        return self.scrub_text(label, patient_id)

    def scrub_text(self, text: str, patient_id: str, identifiers: Iterable[str] = ()) -> str:
        """Free text (a label, a lesion ID, an organ, a message) made safe to export.

        * The patient's ID, and each of ``identifiers`` (e.g. the DICOM Patient ID
          when it differs), becomes the pseudonym wherever it stands as a word of
          its own (case ignored): ``P1-liver`` → ``ANON-…-liver``, but ``T1`` stays.
        * Year-first dates (``2024-01-15``, ``20240115``, ``2024.01.15``,
          ``2024/01/15``) are shifted like the patient's date columns, keeping their
          spelling, so labels and dates tell the same (shifted) story.
        * Other dates — day or month first (``15.01.2024``, ``1/15/24``) or with a
          month name (``15 Jan 2024``, ``January 2024``) — cannot be shifted safely
          and become ``[date]``.

        Parameters
        ----------
        text : str
        patient_id : str
            Keys the pseudonym and the date shift.
        identifiers : iterable of str
            Further identifiers of the same patient to replace by the pseudonym.
        """
        text = "" if text is None else str(text)
        if not text:
            return text
        ids = sorted({str(i) for i in (patient_id, *identifiers) if str(i).strip()},
                     key=len, reverse=True)  # fmt: skip
        if ids:
            alt = "|".join(re.escape(i) for i in ids)
            pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{alt})(?![A-Za-z0-9])", re.IGNORECASE)
            text = pattern.sub(self.pseudonym(patient_id), text)
        text = _NUMERIC_DATE.sub(lambda m: self._shift_match(m, patient_id), text)
        return _OTHER_DATE.sub(DATE_REMOVED, text)

    def _shift_match(self, m: re.Match, patient_id: str) -> str:
        try:
            d = _dt.date(int(m["y"]), int(m["m"]), int(m["d"]))
        except ValueError:
            return m.group(0)  # not a calendar date (e.g. a number): left as it is
        try:
            shifted = d - _dt.timedelta(days=self.shift_days(patient_id))
        except OverflowError:
            return DATE_REMOVED
        sep = m["s"]
        return f"{shifted.year:04d}{sep}{shifted.month:02d}{sep}{shifted.day:02d}"

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
            name = str(col).lower()
            if col == patient_column or name in CODED_COLUMNS:
                continue
            values = out[col]
            if _is_date_column(name):
                out[col] = [
                    self.shift_date(v, p) if _present(v) else v
                    for v, p in zip(values.tolist(), pids, strict=True)
                ]
            elif _is_uid_column(name):
                out[col] = [self.uid(v) if _present(v) else v for v in values.tolist()]
            elif name == "reader":
                out[col] = [self.person(v) if _present(v) else v for v in values.tolist()]
            elif _is_text(values):
                # Every other text column is free text (time point labels, lesion IDs,
                # organs, messages, the user's own columns): scrubbed, once per value.
                cache: dict[tuple[str, str], str] = {}

                def scrub(v, p, cache=cache):
                    if not _present(v):
                        return v
                    key = (str(v), p)
                    if key not in cache:
                        cache[key] = self.scrub_text(str(v), p)
                    return cache[key]

                out[col] = [scrub(v, p) for v, p in zip(values.tolist(), pids, strict=True)]
        out[patient_column] = pids.map(self.pseudonym)
        return out

    # ------------------------------------------------------------------ DICOM
    def dataset(
        self,
        ds: Dataset,
        clean_structured_content: bool = True,
        identifiers: Iterable[str] = (),
    ) -> Dataset:
        """De-identify a DICOM dataset in place (PS3.15 Basic Profile) and return it.

        Parameters
        ----------
        ds : pydicom.Dataset
            An image or SR. Its ``PatientID`` keys the pseudonym and the date shift.
        clean_structured_content : bool
            Keep an SR's content tree, cleaned (Clean Structured Content option);
            otherwise it is removed. Time point labels, lesion IDs and code
            meanings kept in it are scrubbed (:meth:`scrub_text`).
        identifiers : iterable of str
            Further identifiers of the patient to scrub from kept text (e.g. the
            study's own patient code when it differs from the DICOM Patient ID).

        Returns
        -------
        pydicom.Dataset

        Raises
        ------
        DeidentificationError
            When the pixels carry burned-in text (BurnedInAnnotation YES): the
            profile cannot remove it.
        """
        if str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES":
            raise DeidentificationError(
                "BurnedInAnnotation is YES: the pixels carry burned-in text (names, dates) "
                "that de-identification of the header cannot remove; leave this image out"
            )
        return _Profile(self, ds, clean_structured_content, identifiers).run()


def patient_name_forms(name: object) -> list[str]:
    """The ways a DICOM person name is written in free text, to scrub as identifiers:
    ``Doe^Jane`` → ``Doe^Jane``, ``Jane Doe``, ``Doe Jane``, ``Doe, Jane``. A name of one
    component gives nothing (a lone word is too likely to be an ordinary one)."""
    parts = [p.strip() for p in str(name or "").split("=")[0].split("^")[:2]]
    if len(parts) < 2 or not all(parts):
        return []
    family, given = parts
    return [str(name).split("=")[0], f"{given} {family}", f"{family} {given}", f"{family}, {given}"]


def _present(v: object) -> bool:
    return not (v is None or (isinstance(v, float) and v != v) or v == "" or v is pd.NaT)


def _is_text(values: pd.Series) -> bool:
    """Whether a column holds text (object, string or categorical of text)."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.api.types.is_object_dtype(dtype.categories.dtype) or pd.api.types.is_string_dtype(
            dtype.categories.dtype
        )
    return pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)


# ---------------------------------------------------------------------------- DICOM


#: Editions of the PS3.15 attribute table, newest first, as dicom-anonymizer names them.
PROFILE_EDITIONS = ("dicomfields_2026c", "dicomfields_2024b", "dicomfields_2023")
# dicom-anonymizer's action functions -> the PS3.15 action letters they implement
_ACTION_LETTERS = {
    "replace": "D",
    "empty": "Z",
    "delete": "X",
    "replace_UID": "U",
    "empty_or_replace": "ZD",
    "delete_or_empty": "XZ",
    "delete_or_replace": "XD",
    "delete_or_empty_or_replace": "XZD",
    "delete_or_empty_or_replace_UID": "XZU*",
}


def _profile_actions() -> dict[int, str]:
    """Tag → action letters (e.g. ``"XZ"``) of the PS3.15 table E.1-1.

    Read through dicom-anonymizer's public API (``initialize_actions``), newest
    edition first; the action functions it maps each tag to name the letters.
    """
    import dicomanonymizer

    for edition in PROFILE_EDITIONS:
        try:
            table = dicomanonymizer.initialize_actions(edition)
            break
        except ValueError:  # an edition this version of dicom-anonymizer lacks
            continue
    else:
        raise DeidentificationError("dicom-anonymizer carries no PS3.15 attribute table")
    actions: dict[int, str] = {}
    for tag, fn in table.items():
        letters = _ACTION_LETTERS.get(getattr(fn, "__name__", ""))
        if letters and isinstance(tag, tuple) and len(tag) == 2:
            actions[(int(tag[0]) << 16) | int(tag[1])] = letters
        # ranges such as (50xx,xxxx) curves/overlays are handled by group below
    if not actions:
        raise DeidentificationError("dicom-anonymizer's PS3.15 table could not be read")
    return actions


# Concepts whose TEXT values are kept when cleaning SR content (they hold no PHI:
# lesion tracking identifiers and time point labels written by this tool).
_SAFE_TEXT_CONCEPTS = {("DCM", "112039"), ("DCM", "126070"), ("DCM", "126072"), ("DCM", "126071")}
# In recist-tool's own SRs the Comment is the lesion ID and the private organ item the
# organ as written (what the de-identified tables keep too); elsewhere free text.
_OWN_SAFE_TEXT_CONCEPTS = {("DCM", "121106"), ("99RCST", "organ")}
# Time point labels: kept, but shifted like a date when they are one.
_TIME_POINT_CONCEPTS = {("UMLS", "C2348792"), ("DCM", "126070")}
# Labels and descriptions the Basic Profile keeps but this tool fills with the reading's
# texts (a SEG's segment labels and tracking IDs are lesion IDs, its content and series
# descriptions name the time point): kept, with dates and identifiers scrubbed.
_LABEL_TEXT_TAGS = frozenset(
    {
        0x0008103E,  # SeriesDescription
        0x00620005,  # SegmentLabel
        0x00620006,  # SegmentDescription
        0x00620020,  # TrackingID
        0x00700080,  # ContentLabel
        0x00700081,  # ContentDescription
    }
)
_WELL_KNOWN_UID = re.compile(r"^1\.2\.840\.10008\.")


class _Profile:
    """One pass of the Basic Profile over a dataset (recursive)."""

    _actions: dict[int, str] | None = None

    def __init__(
        self,
        deid: Deidentifier,
        ds: Dataset,
        clean_content: bool,
        identifiers: Iterable[str] = (),
    ):
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
        names = [str(ds.get("PatientName", "") or ""), str(ds.get("OtherPatientIDs", "") or "")]
        self.identifiers = [i for i in (*identifiers, *names) if i.strip()]

    def scrub(self, text: str) -> str:
        return self.deid.scrub_text(text, self.patient_id, self.identifiers)

    def run(self) -> Dataset:
        from pydicom.dataset import Dataset
        from pydicom.sequence import Sequence

        ds = self.ds
        had_content = "ContentSequence" in ds
        self._walk(ds, in_content=False)
        meta = getattr(ds, "file_meta", None)
        if meta is not None and "MediaStorageSOPInstanceUID" in meta:
            # the dataset's own UID when it has one (replaced above), else the meta's
            meta.MediaStorageSOPInstanceUID = (
                ds.SOPInstanceUID
                if "SOPInstanceUID" in ds
                else self._uid_one(str(meta.MediaStorageSOPInstanceUID))
            )
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
            if tag in (0x00100010, 0x00100020):  # PatientName, PatientID
                if ds is not self.ds and elem.value:  # nested (e.g. another patient's)
                    own = str(ds.get("PatientID", "") or self.patient_id)
                    elem.value = (
                        self.deid.pseudonym(str(elem.value))
                        if tag == 0x00100020
                        else f"{self.deid.pseudonym(own)}^"
                    )
                continue  # the dataset's own are set in run()
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
                if concept in _TIME_POINT_CONCEPTS or concept in self.safe_text:
                    # time point labels, lesion IDs, own organ names: kept, with dates
                    # and identifiers scrubbed
                    elem.value = self.scrub(str(elem.value))
                else:
                    elem.value = "REMOVED"
                continue
            if tag == 0x00080104 and elem.value:  # CodeMeaning (an SR's or a SEG's site)
                self._code_meaning(ds, elem)
                continue
            if tag in _LABEL_TEXT_TAGS and not action and elem.value:  # kept by the table
                elem.value = self.scrub(str(elem.value))
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

    def _code_meaning(self, code: Dataset, elem) -> None:
        """Scrub a code's meaning; a private free-text code (e.g. an organ the
        SNOMED list lacks) gets the value of its scrubbed text, since the original
        value is a hash of the text."""
        from recist_tool.export.sr_codes import PRIVATE_SCHEME, organ_site

        text = str(elem.value)
        clean = self.scrub(text)
        if clean == text:
            return
        elem.value = clean
        if code.get("CodingSchemeDesignator") == PRIVATE_SCHEME and str(
            code.get("CodeValue", "")
        ).startswith("o"):
            code.CodeValue = organ_site(clean)[0].value

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
        out = [_shift_da(str(v), vr, days) for v in values]
        return out if isinstance(value, list | tuple) else out[0]


_OLD_STYLE_DA = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2})$")  # ACR-NEMA: 1997.04.24


def _shift_da(s: str, vr: str, days: int) -> str:
    """One DA or DT value moved back by ``days``.

    ``YYYYMMDD`` (and a DT's time after it) and the old ACR-NEMA form
    ``YYYY.MM.DD`` (written back as ``YYYYMMDD``) are shifted; a DT of a month
    (``YYYYMM``) moves with the middle of its month; a DT of a year only is kept;
    anything else cannot be shifted and is emptied (never left as it was).
    """
    s = s.strip()
    m = _OLD_STYLE_DA.match(s)
    if m:
        s = "".join(m.groups())
    try:
        if len(s) >= 8 and s[:8].isdigit():
            d = _dt.date(int(s[0:4]), int(s[4:6]), int(s[6:8]))
            shifted = (d - _dt.timedelta(days=days)).strftime("%Y%m%d")
            return shifted + s[8:] if vr == "DT" else shifted
        if vr == "DT" and len(s) >= 6 and s[:6].isdigit():
            d = _dt.date(int(s[0:4]), int(s[4:6]), 15) - _dt.timedelta(days=days)
            return d.strftime("%Y%m") + s[6:]
        if vr == "DT" and s[:4].isdigit():
            return s  # a year: no finer date to shift
    except (ValueError, OverflowError):
        pass
    return ""


def deidentify_files(
    inputs: Iterable[str | os.PathLike], outdir: str | os.PathLike, deid: Deidentifier
) -> list[Path]:
    """De-identify DICOM files (images or SRs) into ``outdir``.

    Files are written as ``<pseudonym>/<series>/<instance>.dcm`` with names made
    from the *replaced* UIDs, so no original identifier survives in a path either.
    The same secret gives the same UIDs as :func:`recist_tool.export.sr.export_readings`
    with ``deid``: de-identified SRs keep pointing at de-identified images. A file
    without SOPInstanceUID takes its file meta's, else a keyed hash of its bytes.

    Parameters
    ----------
    inputs : iterable of path-like
        Files or folders (searched recursively; non-DICOM files are skipped).
    outdir : path-like
    deid : Deidentifier

    Returns
    -------
    list of pathlib.Path

    Raises
    ------
    DeidentificationError
        Naming the files that cannot be de-identified safely (burned-in text,
        damaged, not writable as DICOM), after the others were read; or when no
        DICOM file was found. The command line writes through an output set
        (:mod:`recist_tool._outputs`), so then nothing at all is written.
    """
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    from recist_tool._atomic import atomic_write

    inputs = list(inputs)
    outdir = Path(outdir)
    written: list[Path] = []
    refused: list[str] = []
    dicomdirs = 0
    for root in inputs:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:  # one file in memory at a time
            try:
                ds = dcmread(f)
            except (InvalidDicomError, OSError, EOFError):
                continue  # not DICOM
            except Exception as exc:  # damaged: pydicom raises assorted errors
                refused.append(f"{f}: damaged DICOM file ({type(exc).__name__}: {exc})")
                continue
            if str(getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", "")) == (
                "1.2.840.10008.1.3.10"
            ):
                dicomdirs += 1  # its file references would not fit the new layout
                continue
            try:
                data = _deidentified_bytes(ds, f, deid)
            except DeidentificationError as exc:
                refused.append(f"{f}: {exc}")
                continue
            except Exception as exc:  # a value the profile or the writer cannot process
                refused.append(f"{f}: cannot be de-identified ({type(exc).__name__}: {exc})")
                continue
            if refused:
                continue  # the run fails: no need to write more
            series = str(ds.get("SeriesInstanceUID", "") or "series")[-12:]
            path = outdir / str(ds.PatientID) / series / f"{str(ds.SOPInstanceUID)[-16:]}.dcm"
            with atomic_write(path, "wb") as fh:
                fh.write(data)
            written.append(path)
    if refused:
        more = f" (and {len(refused) - 5} more)" if len(refused) > 5 else ""
        raise DeidentificationError(
            f"{len(refused)} file(s) cannot be de-identified safely; leave them out of the "
            "input:\n  " + "\n  ".join(refused[:5]) + more
        )
    if not written:
        note = f" ({dicomdirs} DICOMDIR file(s) left out)" if dicomdirs else ""
        raise DeidentificationError(
            "no DICOM file found in " + ", ".join(str(p) for p in inputs) + note
        )
    return written


def _deidentified_bytes(ds: Dataset, source: Path, deid: Deidentifier) -> bytes:
    """The de-identified Part-10 file of ``ds`` (checked by writing it to memory)."""
    import io

    meta = getattr(ds, "file_meta", None)
    if "SOPInstanceUID" not in ds:
        own = meta.get("MediaStorageSOPInstanceUID") if meta is not None else None
        ds.SOPInstanceUID = str(own) if own else deid.uid(_file_key(source))
    deid.dataset(ds)
    buf = io.BytesIO()
    try:
        ds.save_as(buf, enforce_file_format=True)
    except (ValueError, AttributeError, TypeError) as exc:
        raise DeidentificationError(f"cannot be written as a DICOM file: {exc}") from exc
    return buf.getvalue()


def _file_key(path: Path) -> str:
    """A stable stand-in for a missing instance UID: the SHA-256 of the file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
