"""Named exceptions and warnings of the DICOM loader.

Every error derives from :class:`recist_tool.errors.RecistError` (the CLI prints
the message and exits 2) and its message names the folder, file or slice and what
is wrong. Warnings derive from :class:`DicomWarning` so callers can filter them.
"""

from __future__ import annotations

from recist_tool.errors import RecistError


class DicomError(RecistError):
    """Base class of all DICOM loading errors."""


class NoDicomFoundError(DicomError):
    """The path holds no readable DICOM image."""


class UnreadableFileError(DicomError):
    """A file could not be parsed, or its pixel data is truncated."""


class InvalidHeaderError(UnreadableFileError):
    """A header value cannot be trusted: a claimed size that the file cannot hold or
    that exceeds a sane limit, geometry or rescale values that are not finite,
    positive or orthogonal, a pixel format that is not a CT image.

    ``path`` is the file and ``reason`` what is wrong (the message is both).
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class VolumeTooLargeError(DicomError):
    """The volume a series claims would not fit in this machine's memory."""


class SeriesSelectionError(DicomError):
    """Several series qualify and none was chosen, or the chosen one does not exist."""


class NotAVolumeError(DicomError):
    """The series holds no slice that belongs to a volume (e.g. localizers only)."""


class MixedGeometryError(DicomError):
    """Slices differ in orientation, image size, pixel spacing or pixel format."""


class DuplicatePositionError(DicomError):
    """Several slices share a position (e.g. two phases or acquisitions in one series)."""


class MissingSliceError(DicomError):
    """A gap between slice positions is a whole multiple of the slice spacing."""


class UnevenSpacingError(DicomError):
    """Slice positions are not evenly spaced."""


class GantryTiltError(DicomError):
    """The slices are stacked obliquely (gantry tilt); pass ``tilt="resample"`` to correct."""


class NoDecoderError(DicomError):
    """No installed package decodes the file's transfer syntax; the message names one."""


class DicomWarning(UserWarning):
    """Base class of warnings issued while scanning or loading DICOM."""


class SkippedFileWarning(DicomWarning):
    """An unreadable or truncated file was skipped; the rest of the series is whole."""


class LocalizerDroppedWarning(DicomWarning):
    """Localizer (scout) images inside the series were left out of the volume."""


class NonCTModalityWarning(DicomWarning):
    """The series is not CT: values are stored values (rescaled), not Hounsfield units."""


class AssumedSpacingWarning(DicomWarning):
    """The series has no PixelSpacing: distances assume 1 mm pixels and are not true mm."""


class TiltResampledWarning(DicomWarning):
    """A gantry-tilted series was resampled onto an orthogonal grid."""


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
    "SeriesSelectionError",
    "SkippedFileWarning",
    "TiltResampledWarning",
    "UnevenSpacingError",
    "UnreadableFileError",
    "VolumeTooLargeError",
]
