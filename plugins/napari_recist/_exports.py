"""The exports of the reading: DICOM SR (TID 1500) and the patient report.

:class:`Exports` calls ``recist_tool.export`` with the folders the series were
opened from (where the exports find the images the lines were drawn on) and reports
the outcome — files written or the error — through a notify callback; the folder
dialog is the widget's part. No Qt here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recist_tool.errors import RecistError
from recist_tool.reading import Reading


class Exports:
    """Exports of the session's reading.

    Parameters
    ----------
    reading : callable
        Returns the current :class:`Reading`.
    folders : callable
        Returns the folders the study's images were opened from.
    notify : callable
        ``notify(severity, text)`` with severity ``info``, ``warning`` or ``error``.
    """

    def __init__(
        self,
        reading: Callable[[], Reading],
        folders: Callable[[], list[Path]],
        notify: Callable[[str, str], None],
    ) -> None:
        self._reading = reading
        self._folders = folders
        self._notify = notify

    def export_sr(self, outdir: str | os.PathLike) -> list[Path]:
        """Write one DICOM SR (TID 1500) per time point into ``outdir``
        (:func:`recist_tool.export.sr.export_readings` with its defaults: no patient
        name or birth date copied from the images).

        Returns
        -------
        list of pathlib.Path
            The SR files written (empty on error or when nothing is measured).
        """
        from recist_tool.export.sr import export_readings

        return self._run(
            "DICOM SR", outdir, lambda dicom: export_readings([self._reading()], dicom, outdir)
        )

    def export_seg(self, outdir: str | os.PathLike) -> list[Path]:
        """Write the segmentations of the assisted measurements as DICOM SEG, each with
        an SR (TID 1500) whose volumetric groups reference it
        (:func:`recist_tool.export.seg.export_segmentations`: masks recomputed from the
        recorded axes; no patient name or birth date copied from the images).

        Returns
        -------
        list of pathlib.Path
            The SEG and SR files written (empty on error or when nothing is assisted).
        """
        from recist_tool.export.seg import export_segmentations

        def run(dicom: list[Path]) -> list[Path]:
            done = export_segmentations([self._reading()], dicom, outdir)
            for note in done.notes:
                self._notify("warning", note)
            return done.paths

        return self._run("DICOM SEG", outdir, run)

    def export_patient_report(self, outdir: str | os.PathLike) -> list[Path]:
        """Write the patient report (HTML and PDF) into ``outdir``.

        Returns
        -------
        list of pathlib.Path
            The files written (empty on error).
        """
        from recist_tool.export.patient_report import build_patient_report, write_patient_report
        from recist_tool.export.sr import ImageIndex

        def run(dicom: list[Path]) -> list[Path]:
            report = build_patient_report(self._reading(), ImageIndex(dicom))
            return write_patient_report(report, outdir)

        return self._run("patient report", outdir, run)

    def _run(self, what: str, outdir: str | os.PathLike, run: Any) -> list[Path]:
        if not self._reading().patient_id:
            self._notify("error", f"no {what} written: open a study first")
            return []
        dicom = self._folders()
        if not dicom:
            self._notify(
                "error", f"no {what} written: the folder of the study's images is not known"
            )
            return []
        try:
            paths = run(dicom)
        except RecistError as exc:
            self._notify("error", f"no {what} written: {exc}")
            return []
        except OSError as exc:
            self._notify("error", f"no {what} written to {Path(outdir)}: {exc}")
            return []
        if not paths:
            self._notify("warning", f"no {what} written: no lesion is assessed yet")
            return []
        names = ", ".join(p.name for p in paths)
        self._notify("info", f"{what} written to {Path(outdir)}: {names}")
        return paths
