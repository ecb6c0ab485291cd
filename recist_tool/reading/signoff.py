"""Sign-off: a reader signs a time point (or the whole patient) and it is locked.

A signed time point is locked: a change afterwards needs a reason, which goes into
the audit trail with the change. The sign-off state of a reading lives next to its
annotation CSV, in ``<name>.signoff.json``; each signature records who signed,
when (UTC), and a SHA-256 digest of the time point's content (every lesion's
kind, organ, status, sizes and line end points), so :meth:`SignOff.verify` finds a
signed time point changed behind the API's back (e.g. the CSV edited by hand).
The annotation CSV records the signature time in its ``signed_at`` column
(:meth:`SignOff.stamp`).

The edit path of a :class:`~recist_tool.reading.Reading` calls, for an edit at
time point ``T`` (see :meth:`SignOff.amending`)::

    signoff.require_reason(T, reason)   # before: SignedTimepointError if locked
    ... apply the edit ...
    signoff.record_change(reading, T, reader, reason, action, lesion, old, new)

Audit entries are JSON lines appended to ``<name>.audit.jsonl`` by the shared
writer :func:`recist_tool.reading.audit.append_audit` (O_APPEND, fsync):
``time`` (UTC), ``reader``, ``action``, ``lesion``, ``timepoint``, ``old``,
``new``, ``reason``. Pass ``audit=`` to send them elsewhere (one audit trail per
reading, whoever writes it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recist_tool._atomic import atomic_write_text
from recist_tool.reading.audit import append_audit, audit_path, utc_now
from recist_tool.reading.errors import ReadingError

if TYPE_CHECKING:
    import pandas as pd

    from recist_tool.reading.model import Reading

SIGNOFF_FORMAT = "recist-tool-signoff"
AuditSink = Callable[[dict[str, Any]], None]


class SignedTimepointError(ReadingError):
    """An edit of a signed (locked) time point was attempted without a reason."""


@dataclass(frozen=True)
class Signature:
    """A signed time point."""

    timepoint: str
    reader: str
    signed_at: str  # ISO 8601 UTC, e.g. 2024-05-02T09:14:03Z
    digest: str  # SHA-256 of the time point's content when signed (or last amended)
    amendments: int = 0
    amended_at: str = ""


def signoff_path(csv_path: str | os.PathLike) -> Path:
    """The sign-off state of an annotation CSV: ``<name>.signoff.json``."""
    p = Path(csv_path)
    return p.with_name(p.stem + ".signoff.json")


def timepoint_digest(reading: Reading, label: str) -> str:
    """SHA-256 of what a reader signs at a time point.

    The time point's date and, for every lesion assessed there, its id, kind, organ,
    nodal flag, status, sizes and line / marker geometry (the sidecar's content).
    """
    doc = reading.to_json()
    tp = next((t for t in doc["timepoints"] if t["label"] == label), None)
    lesions = []
    for le in doc["lesions"]:
        found = [f for f in le["findings"] if f["timepoint"] == label]
        if found:
            keep = {k: le[k] for k in ("lesion_id", "kind", "organ", "nodal")}
            lesions.append({**keep, "finding": found[0]})
    content = {"date": tp["date"] if tp else None, "lesions": lesions}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class SignOff:
    """The sign-off state of one reading (one annotation CSV).

    Parameters
    ----------
    csv_path : path-like
        The reading's annotation CSV; the state is ``<name>.signoff.json`` next to it.
    audit : callable, optional
        Receives each audit entry (dict); default: append to ``<name>.audit.jsonl``.
    """

    def __init__(self, csv_path: str | os.PathLike, audit: AuditSink | None = None):
        self.csv_path = Path(csv_path)
        self.path = signoff_path(self.csv_path)
        self._audit = audit
        self.signatures: dict[str, Signature] = {}
        if self.path.exists():
            self._load()

    # -------------------------------------------------------------------- state

    def _load(self) -> None:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            if doc.get("format") != SIGNOFF_FORMAT:
                raise ValueError("not a sign-off file")
            self.signatures = {s["timepoint"]: Signature(**s) for s in doc.get("signatures", [])}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ReadingError(f"{self.path}: cannot read the sign-off state ({exc})") from None

    def save(self) -> Path:
        """Write the state file atomically."""
        doc = {
            "format": SIGNOFF_FORMAT,
            "version": 1,
            "csv_file": self.csv_path.name,
            "signatures": [asdict(s) for s in self.signatures.values()],
        }
        atomic_write_text(self.path, json.dumps(doc, indent=1) + "\n")
        return self.path

    def audit(self, entry: dict[str, Any]) -> None:
        """Record one audit entry (through the sink given, else the JSONL file)."""
        if self._audit is not None:
            self._audit(entry)
        else:
            append_audit(audit_path(self.csv_path), entry)

    # ------------------------------------------------------------------ queries

    def is_signed(self, timepoint: str) -> bool:
        """Whether the time point is signed (locked)."""
        return timepoint in self.signatures

    def signed_at(self, timepoint: str) -> str | None:
        """When the time point was signed (ISO UTC), or None."""
        s = self.signatures.get(timepoint)
        return s.signed_at if s else None

    def patient_signed(self, reading: Reading) -> bool:
        """Whether every time point of the reading is signed (and there is one)."""
        labels = [tp.label for tp in reading.timepoints]
        return bool(labels) and all(lb in self.signatures for lb in labels)

    def verify(self, reading: Reading) -> list[str]:
        """Signed time points whose content differs from what was signed or amended."""
        out = []
        for label, sig in self.signatures.items():
            if label not in {tp.label for tp in reading.timepoints}:
                out.append(f"time point {label} was signed but is no longer in the reading")
            elif timepoint_digest(reading, label) != sig.digest:
                out.append(
                    f"time point {label} (signed {sig.signed_at} by {sig.reader}) was changed "
                    "without a recorded reason"
                )
        return out

    # ------------------------------------------------------------------ actions

    def sign(self, reading: Reading, reader: str, timepoint: str | None = None) -> list[Signature]:
        """Sign one time point, or every time point of the reading (``timepoint=None``).

        Already signed time points keep their signature. A time point with an
        error in :meth:`Reading.notes` (e.g. a new lesion at baseline), or with a
        lesion still to assess (:meth:`Reading.still_to_assess`: no status yet, or a
        target's axis not drawn), cannot be signed, nor can a reading without any
        lesion; nothing is signed then.

        Returns
        -------
        list of Signature
            The signatures made now.
        """
        reader = str(reader).strip()
        if not reader:
            raise ReadingError("a signature needs the reader's name")
        labels = [tp.label for tp in reading.timepoints]
        if timepoint is not None and timepoint not in labels:
            raise ReadingError(f"patient {reading.patient_id}: no time point {timepoint!r}")
        todo = [timepoint] if timepoint is not None else labels
        if not todo:
            raise ReadingError(f"patient {reading.patient_id}: no time point to sign")
        errors = [n for n in reading.notes() if n.severity == "error" and n.timepoint in todo]
        if errors:
            n = errors[0]
            raise ReadingError(
                f"patient {reading.patient_id}, time point {n.timepoint}, lesion "
                f"{n.lesion_id}: {n.message}: fix it before signing"
            )
        if not reading.lesions:
            # nothing to sign: a reading opened and never read (a worklist patient
            # opened, then left) was signed as if the reader had found no disease
            raise ReadingError(
                f"patient {reading.patient_id}: no lesion recorded: nothing to sign (a "
                "reading without any target or non-target lesion is not a reading)"
            )
        for label in todo:
            if label in self.signatures:
                continue
            left = reading.still_to_assess(label)
            if left:
                raise ReadingError(
                    f"patient {reading.patient_id}, time point {label}: "
                    f"{_names(left)} not assessed yet: measure or give a status to each "
                    f"(not evaluated when it cannot be assessed) before signing"
                )
        made = []
        now = utc_now()
        for label in todo:
            if label in self.signatures:
                continue
            sig = Signature(label, reader, now, timepoint_digest(reading, label))
            self.signatures[label] = sig
            made.append(sig)
            self.audit(_entry(reader, "sign", label, reason=""))
        if made:
            self.save()
        return made

    def require_reason(self, timepoint: str, reason: str | None) -> None:
        """Raise :class:`SignedTimepointError` if ``timepoint`` is signed and no reason given."""
        sig = self.signatures.get(timepoint)
        if sig is not None and not (reason or "").strip():
            raise SignedTimepointError(
                f"time point {timepoint} was signed by {sig.reader} at {sig.signed_at}: "
                "a change needs a reason"
            )

    def record_change(
        self,
        reading: Reading,
        timepoint: str,
        reader: str,
        reason: str | None,
        action: str,
        lesion: str | None = None,
        old: Any = None,
        new: Any = None,
    ) -> None:
        """Record a change made to a time point (after it was applied).

        For a signed time point the reason is required, the change goes into the
        audit trail with it, and the signature's digest follows the new content
        (the time point stays signed, with one more amendment). Unsigned time points
        are left alone (the reading's own audit trail records their edits).
        """
        sig = self.signatures.get(timepoint)
        if sig is None:
            return
        self.require_reason(timepoint, reason)
        now = utc_now()
        self.signatures[timepoint] = replace(
            sig,
            digest=timepoint_digest(reading, timepoint),
            amendments=sig.amendments + 1,
            amended_at=now,
        )
        self.audit(_entry(reader, action, timepoint, reason or "", lesion, old, new, time=now))
        self.save()

    @contextlib.contextmanager
    def amending(
        self,
        reading: Reading,
        timepoint: str,
        reader: str,
        reason: str | None = None,
        action: str = "edit",
        lesion: str | None = None,
    ) -> Iterator[None]:
        """Guard one edit: refuse it without a reason when signed, record it after.

        Example
        -------
        >>> with signoff.amending(reading, "baseline", "alice", "typo in L1", "set_line", "L1"):
        ...     reading.set_line("L1", "baseline", "long", line)
        """
        self.require_reason(timepoint, reason)
        before = timepoint_digest(reading, timepoint) if self.is_signed(timepoint) else None
        yield
        if before is not None and timepoint_digest(reading, timepoint) != before:
            self.record_change(reading, timepoint, reader, reason, action, lesion)

    def reopen(self, timepoint: str, reader: str, reason: str) -> None:
        """Remove a signature (the time point is unlocked); needs a reason, audited."""
        if timepoint not in self.signatures:
            return
        if not (reason or "").strip():
            raise SignedTimepointError(f"reopening signed time point {timepoint} needs a reason")
        del self.signatures[timepoint]
        self.audit(_entry(reader, "reopen", timepoint, reason))
        self.save()

    def stamp(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The annotation table with ``signed_at`` filled for rows of signed time points."""
        out = frame.copy()
        out["signed_at"] = [
            self.signatures[tp].signed_at if tp in self.signatures else ""
            for tp in out["timepoint"].astype(str)
        ]
        return out


def _names(ids: list[str], most: int = 6) -> str:
    shown = ", ".join(ids[:most])
    return shown + (f" and {len(ids) - most} more" if len(ids) > most else "")


def _entry(reader, action, timepoint, reason, lesion=None, old=None, new=None, time=None):
    return {
        "time": time or utc_now(),
        "reader": reader,
        "action": action,
        "lesion": lesion,
        "timepoint": timepoint,
        "old": old,
        "new": new,
        "reason": reason,
    }
