"""File names made from identifiers (patient IDs, time point labels): safe, unique, bounded.

``P/1`` and ``P_1`` must not map to the same file, nor a 300-character patient ID to a
name the file system refuses. :func:`file_stem` keeps the readable name when the
identifiers are plain (ASCII letters, digits, ``.`` and ``-``) and short; otherwise it
replaces the other characters, shortens each part and adds a short hash of the
identifiers themselves, so different identifiers always give different names.
Used for SR and patient-report files; any per-patient file (a reading's CSV) should
use it too.
"""

from __future__ import annotations

import hashlib

#: Longest part (characters, all ASCII) kept from one identifier.
MAX_PART = 60


def _clean(text: str) -> str:
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in ".-") else "_" for ch in text)


def file_stem(*parts: str, max_part: int = MAX_PART) -> str:
    """A file-name stem from identifiers: ``part1_part2`` or ``part1_part2-<hash>``.

    Parameters
    ----------
    *parts : str
        Identifiers, e.g. patient ID and time point label (already pseudonymised
        when the export is de-identified: the hash is computed from these strings).
    max_part : int
        Characters kept of each part.

    Returns
    -------
    str
        At most ``len(parts) * (max_part + 1) + 8`` ASCII characters; different
        ``parts`` give different stems.
    """
    parts = tuple(str(p) for p in parts)
    cleaned = [_clean(p)[:max_part].strip(".") or "_" for p in parts]
    stem = "_".join(cleaned)
    if any(c != p or "_" in p for c, p in zip(cleaned, parts, strict=True)):
        # Characters replaced or cut ("_" included, the separator): tell names apart.
        digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
        stem += "-" + digest[:8]
    return stem
