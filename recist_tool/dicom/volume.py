"""The :class:`Volume` returned by :func:`recist_tool.dicom.load_series`.

Geometry conventions (the same as SimpleITK / ITK, in DICOM's LPS patient frame):

- ``array`` is indexed ``[z, y, x]`` = ``[slice, row, column]``.
- ``direction`` holds 9 floats, row-major, of the 3 × 3 matrix whose *columns* are
  the unit vectors of increasing x (column index; DICOM row cosines), y (row index;
  DICOM column cosines) and z (slice index; the slice normal).  This equals
  ``SimpleITK.Image.GetDirection()``.
- ``origin_lps`` is the patient position (mm) of the centre of voxel ``[0, 0, 0]``.
- ``spacing_zyx`` is (slice step, row spacing, column spacing) in mm; the slice
  step comes from the positions, never from SliceThickness.

So ``lps = origin + D @ (spacing_xyz * (x, y, z))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(eq=False)
class Volume:
    """A CT volume with its patient geometry.

    Attributes
    ----------
    array : numpy.ndarray
        Voxel values, shape ``(z, y, x)``; int16 Hounsfield units when the rescale
        allows it, else float32.  Non-CT series hold their stored values (not
        rescaled; ``metadata["rescale"]`` has the slope and intercept). A
        :class:`~recist_tool.dicom.stream.StreamedArray` when loaded with
        ``load_series(..., stream=True)`` (``numpy.asarray`` waits for its pixels).
    spacing_zyx : tuple of float
        Slice step, row spacing and column spacing in mm.
    origin_lps : tuple of float
        LPS position (mm) of the centre of voxel ``[0, 0, 0]``.
    direction : tuple of float
        9 floats, row-major, columns = x, y, z axis unit vectors (SimpleITK's
        ``GetDirection()``).
    slice_thickness : float or None
        Nominal SliceThickness (mm) of the reconstruction, as in the header.
    sop_instance_uids : tuple of str
        SOP Instance UID of each slice, in array order (index ``z``).  For an
        Enhanced (multi-frame) object every slice has the same UID and
        ``frame_numbers`` tells which frame (1-based) it is.
    frame_numbers : tuple of int or None
        1-based frame number of each slice for multi-frame objects, else None.
    window : tuple of float or None
        Default display window ``(center, width)`` from the first slice's tags.
    metadata : dict
        Patient/study/series attributes (``patient_id``, ``study_instance_uid``,
        ``study_date``, ``series_instance_uid``, ``series_number``, ``modality``,
        ``frame_of_reference_uid``, ``sop_class_uid``, ``rows``, ``columns``,
        ``pixel_spacing`` (row, column), ``transfer_syntax``, ``folder``,
        ``files`` (per slice), ``instance_numbers``, ``rescale`` (slope,
        intercept of the first slice), ``values`` (``"HU"`` or ``"stored"``),
        ``dropped`` (images left out, e.g. localizers), ``notes`` (what the loader
        corrected) …).
    """

    array: np.ndarray
    spacing_zyx: tuple[float, float, float]
    origin_lps: tuple[float, float, float]
    direction: tuple[float, ...]
    slice_thickness: float | None = None
    sop_instance_uids: tuple[str, ...] = ()
    frame_numbers: tuple[int, ...] | None = None
    window: tuple[float, float] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    # -- shape helpers -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """``(slices, rows, columns)``."""
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def rows(self) -> int:
        """DICOM Rows (image height)."""
        return int(self.array.shape[1])

    @property
    def columns(self) -> int:
        """DICOM Columns (image width)."""
        return int(self.array.shape[2])

    @property
    def pixel_spacing(self) -> tuple[float, float]:
        """DICOM PixelSpacing order: (row spacing, column spacing) in mm."""
        return (float(self.spacing_zyx[1]), float(self.spacing_zyx[2]))

    @property
    def direction_matrix(self) -> np.ndarray:
        """3 × 3 matrix whose columns are the x, y, z axis unit vectors in LPS."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def affine_zyx(self) -> np.ndarray:
        """4 × 4 matrix mapping homogeneous ``(z, y, x, 1)`` indices to ``(L, P, S, 1)``."""
        d = self.direction_matrix
        sz, sy, sx = self.spacing_zyx
        m = np.eye(4)
        # columns for z, y, x index in that order
        m[:3, 0] = d[:, 2] * sz
        m[:3, 1] = d[:, 1] * sy
        m[:3, 2] = d[:, 0] * sx
        m[:3, 3] = self.origin_lps
        return m

    # -- conversions ---------------------------------------------------------------
    def index_to_lps(self, zyx: Any) -> np.ndarray:
        """Convert voxel indices ``(z, y, x)`` (may be fractional) to LPS mm.

        Parameters
        ----------
        zyx : array_like, shape (3,) or (..., 3)
            Indices in array order.

        Returns
        -------
        numpy.ndarray
            Same leading shape, last axis ``(L, P, S)`` in mm.
        """
        idx = np.asarray(zyx, dtype=float)
        m = self.affine_zyx
        return idx @ m[:3, :3].T + m[:3, 3]

    def lps_to_index(self, lps: Any) -> np.ndarray:
        """Convert LPS positions (mm) to fractional voxel indices ``(z, y, x)``.

        Parameters
        ----------
        lps : array_like, shape (3,) or (..., 3)

        Returns
        -------
        numpy.ndarray
            Fractional ``(z, y, x)`` indices; round them to get the nearest voxel.
        """
        p = np.asarray(lps, dtype=float)
        m = self.affine_zyx
        inv = np.linalg.inv(m[:3, :3])
        return (p - m[:3, 3]) @ inv.T

    def slice_position(self, z: int) -> np.ndarray:
        """ImagePositionPatient (LPS mm) of slice ``z`` (centre of its first pixel)."""
        return self.index_to_lps((float(z), 0.0, 0.0))

    @property
    def hu_range(self) -> tuple[float, float]:
        """Minimum and maximum voxel value."""
        if self.array.size == 0:
            return (float("nan"), float("nan"))
        return (float(self.array.min()), float(self.array.max()))

    def __repr__(self) -> str:  # the array itself is too big to print
        return (
            f"Volume(shape={self.shape}, dtype={self.array.dtype}, "
            f"spacing_zyx={tuple(round(s, 4) for s in self.spacing_zyx)}, "
            f"origin_lps={tuple(round(o, 3) for o in self.origin_lps)}, "
            f"series={self.metadata.get('series_instance_uid')!r})"
        )
