"""DICOM CT series: header scan, checked loading into a :class:`Volume`, clear errors.

Public API::

    from recist_tool.dicom import scan, load_series, Volume

``scan(path)`` lists the series under a file or folder (headers only);
``load_series(path, series_uid=None)`` returns a :class:`Volume` in Hounsfield
units with the patient geometry (SimpleITK conventions). Every failure is a
subclass of :class:`DicomError` (itself a ``RecistError``) naming the folder,
file or slice and what is wrong. ``load_series(path, stream=True)`` returns once
the headers are read and checked, with a :class:`StreamedArray` (any slice at
once, the whole volume read in a background thread) for a viewer to show first.
"""

from recist_tool.dicom._gdcm_guard import guard_gdcm_import

guard_gdcm_import()

from recist_tool.dicom.errors import (  # noqa: E402
    AssumedSpacingWarning,
    DicomError,
    DicomWarning,
    DuplicatePositionError,
    GantryTiltError,
    InvalidHeaderError,
    LocalizerDroppedWarning,
    MissingSliceError,
    MixedGeometryError,
    NoDecoderError,
    NoDicomFoundError,
    NonCTModalityWarning,
    NotAVolumeError,
    SeriesSelectionError,
    SkippedFileWarning,
    TiltResampledWarning,
    UnevenSpacingError,
    UnreadableFileError,
    VolumeTooLargeError,
)
from recist_tool.dicom.load import load_series  # noqa: E402
from recist_tool.dicom.scan import SeriesInfo, scan  # noqa: E402
from recist_tool.dicom.stream import StreamedArray  # noqa: E402
from recist_tool.dicom.volume import Volume  # noqa: E402

__all__ = [
    "AssumedSpacingWarning",
    "DicomError",
    "DicomWarning",
    "DuplicatePositionError",
    "GantryTiltError",
    "InvalidHeaderError",
    "LocalizerDroppedWarning",
    "MissingSliceError",
    "MixedGeometryError",
    "NoDecoderError",
    "NoDicomFoundError",
    "NonCTModalityWarning",
    "NotAVolumeError",
    "SeriesInfo",
    "SeriesSelectionError",
    "SkippedFileWarning",
    "StreamedArray",
    "TiltResampledWarning",
    "UnevenSpacingError",
    "UnreadableFileError",
    "Volume",
    "VolumeTooLargeError",
    "load_series",
    "scan",
]
