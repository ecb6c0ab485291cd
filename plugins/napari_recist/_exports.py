"""The exports of the reading (mixed into ``ReadingSession``).

DICOM SR (TID 1500, one per time point) and the patient report (HTML and PDF), each a
call into ``recist_tool.export`` with the folders the series were opened from (where
the exports find the images the lines were drawn on). The outcome, files written or
the error, is shown as a napari notification; the folder dialog is the widget's part.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from napari.utils.notifications import show_error, show_info, show_warning

from napari_recist._layers import FOLDER_KEY
from recist_tool.errors import RecistError


class ExportsMixin:
    """The exports part of :class:`napari_recist._session.ReadingSession`."""

    def dicom_folders(self) -> list[Path]:
        """Folders the reading's series were opened from (where the exports find the
        images the lines were drawn on)."""
        found = [lay.metadata.get(FOLDER_KEY, "") for lay in self._series_layers.values()]
        found.append(self.reading.study_path)
        return [Path(f) for f in dict.fromkeys(found) if f]

    def export_sr(self, outdir: str | os.PathLike) -> list[Path]:
        """Write one DICOM SR (TID 1500) per time point of the reading into ``outdir``.

        A call into :func:`recist_tool.export.sr.export_readings` with its defaults
        (no patient name or birth date copied from the images). Shows a notification
        naming the files written, or the error.

        Returns
        -------
        list of pathlib.Path
            The SR files written (empty on error or when nothing is measured).
        """
        from recist_tool.export.sr import export_readings

        return self._export(
            "DICOM SR", outdir, lambda dicom: export_readings([self.reading], dicom, outdir)
        )

    def export_patient_report(self, outdir: str | os.PathLike) -> list[Path]:
        """Write the patient report of the reading (HTML and PDF) into ``outdir``.

        A call into :mod:`recist_tool.export.patient_report`; shows a notification
        naming the files written, or the error.

        Returns
        -------
        list of pathlib.Path
            The files written (empty on error).
        """
        from recist_tool.export.patient_report import build_patient_report, write_patient_report
        from recist_tool.export.sr import ImageIndex

        def run(dicom: list[Path]) -> list[Path]:
            report = build_patient_report(self.reading, ImageIndex(dicom))
            return write_patient_report(report, outdir)

        return self._export("patient report", outdir, run)

    def _export(self, what: str, outdir: str | os.PathLike, run: Any) -> list[Path]:
        if not self.reading.patient_id:
            show_error(f"recist: no {what} written: open a study first")
            return []
        dicom = self.dicom_folders()
        if not dicom:
            show_error(f"recist: no {what} written: the folder of the study's images is not known")
            return []
        try:
            paths = run(dicom)
        except RecistError as exc:
            show_error(f"recist: no {what} written: {exc}")
            return []
        except OSError as exc:
            show_error(f"recist: no {what} written to {Path(outdir)}: {exc}")
            return []
        if not paths:
            show_warning(f"recist: no {what} written: no lesion is assessed yet")
            return []
        names = ", ".join(p.name for p in paths)
        show_info(f"recist: {what} written to {Path(outdir)}: {names}")
        return paths
