"""PACS access over DICOMweb: search (QIDO-RS), pull into a local cache (WADO-RS),
store (STOW-RS). No Qt: the napari plugin calls these from a worker thread.

- :class:`PacsClient` — one server: credentials, TLS, timeouts, retries, clear errors;
- :func:`pull_study` — a study (or some series) into a resumable, checked cache;
- :func:`push_files` — DICOM files to the server; :func:`check_target_study` — an SR
  or SEG goes only into its images' study, under the same patient;
- :mod:`recist_tool.pacs.config` — where credentials come from;
- :mod:`recist_tool.pacs.orthanc` — a throw-away local Orthanc (tests, demos).
"""

from recist_tool.pacs.cache import (
    PullProgress,
    PullResult,
    check_file,
    instance_path,
    pull_study,
    read_index,
    study_folder,
)
from recist_tool.pacs.client import (
    PacsClient,
    SeriesRecord,
    StoreResult,
    StudyRecord,
    date_range,
)
from recist_tool.pacs.config import PacsSettings, resolve
from recist_tool.pacs.errors import PacsError, PullCancelled
from recist_tool.pacs.push import PushResult, check_target_study, dicom_files, push_files

__all__ = [
    "PacsClient",
    "PacsError",
    "PacsSettings",
    "PullCancelled",
    "PullProgress",
    "PullResult",
    "PushResult",
    "SeriesRecord",
    "StoreResult",
    "StudyRecord",
    "check_file",
    "check_target_study",
    "date_range",
    "dicom_files",
    "instance_path",
    "pull_study",
    "push_files",
    "read_index",
    "resolve",
    "study_folder",
]
