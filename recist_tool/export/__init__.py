"""Exports of recist-tool results: tables, figures, DICOM SR, reports, de-identification.

Modules
-------
tables
    Batch results as Excel (one sheet per table plus the settings), Parquet, and the
    per-lesion long table (lesion × time point with size and change).
plots
    Waterfall, spider and swimmer plots (matplotlib, PNG and SVG).
sr, sr_import, sr_codes
    DICOM Comprehensive 3D SR (TID 1500 Measurement Report) export and import, and
    the codes they share.
report
    The cohort report (self-contained HTML and PDF).
patient_report
    The patient report with a key image per measured lesion (HTML and PDF).
deid
    Pseudonyms, per-patient date shifts and the DICOM PS3.15 Basic Profile.

Heavy libraries (matplotlib, highdicom) are imported by the modules that need them,
never here.
"""

from __future__ import annotations

from recist_tool.errors import RecistError


class ExportError(RecistError):
    """An export cannot be made from the given input (names the file, row or value)."""


__all__ = ["ExportError"]
