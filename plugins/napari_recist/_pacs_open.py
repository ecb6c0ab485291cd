"""*Open from PACS…*: search a DICOMweb server, pull studies into the local cache.

A thin layer over :mod:`recist_tool.pacs` for the Qt dialog
(:mod:`napari_recist._qt.pacs_dialog`), which runs each call in a worker thread:
:func:`search` (QIDO-RS studies), :func:`list_series` and :func:`pull` (WADO-RS into
the cache: resumable, every instance checked, cancellable between instances). The
pulled study folder is then opened with the plugin's normal folder-opening path, so
reading from the cache needs no server. Credentials come only from the environment
(``RECIST_PACS_USER``/``RECIST_PACS_PASSWORD`` or ``RECIST_PACS_TOKEN``) or the
config file, as for the CLI; errors are :class:`recist_tool.pacs.PacsError` whose
text names the URL, the status and what to do. No Qt here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recist_tool.pacs import PacsClient, PacsError, PullProgress, pull_study
from recist_tool.pacs.cache import study_folder
from recist_tool.pacs.client import SeriesRecord, StudyRecord, date_range

#: Environment variable naming the plugin's PACS cache folder.
CACHE_ENV = "RECIST_PACS_CACHE"


def default_cache_dir() -> Path:
    """``$RECIST_PACS_CACHE``, else ``~/.cache/recist-tool/pacs``."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "recist-tool" / "pacs"


@dataclass(frozen=True)
class Query:
    """What the reader searches for (the dialog's fields)."""

    url: str
    patient_id: str = ""
    date_from: str = ""
    date_to: str = ""
    modality: str = "CT"

    def study_date(self) -> str | None:
        """The DICOM date filter (``A-B``, ``A-``, ``-B``, or None)."""
        lo, hi = self.date_from.strip(), self.date_to.strip()
        if not lo and not hi:
            return None
        return date_range(f"{lo}..{hi}" if lo != hi else lo)


def _client(url: str) -> PacsClient:
    url = url.strip()
    if not url:
        raise PacsError("no PACS URL: enter the server's DICOMweb root, e.g. http://host/dicom-web")
    return PacsClient(url)


def search(query: Query) -> list[StudyRecord]:
    """Studies matching ``query`` (QIDO-RS), by patient, date and time."""
    date = query.study_date()
    with _client(query.url) as c:
        return c.find_studies(
            patient_id=query.patient_id.strip() or None,
            study_date=date,
            modality=query.modality.strip() or None,
        )


def list_series(url: str, study_uid: str) -> list[SeriesRecord]:
    """The series of a study."""
    with _client(url) as c:
        return c.find_series(study_uid)


def pull(
    url: str,
    study_uid: str,
    cache_dir: str | os.PathLike,
    modality: str | None = "CT",
    series_uids: list[str] | None = None,
    progress: Callable[[PullProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Pull a study's series (of ``modality``, or those chosen) into the cache; its folder.

    Raises :class:`recist_tool.pacs.PullCancelled` when ``should_stop`` said so
    (what was fetched stays in the cache; the next pull resumes).
    """
    with _client(url) as c:
        res = pull_study(
            c,
            study_uid,
            cache_dir,
            series_uids=series_uids or None,
            modality=None if series_uids else (modality or None),
            progress=progress,
            should_stop=should_stop,
        )
    return res.folder


def cached_folder(cache_dir: str | os.PathLike, study_uid: str) -> Path:
    """Where a study is (or will be) in the cache."""
    return study_folder(cache_dir, study_uid)
