"""A reader's work on one patient: time points, lesions and their measurement lines.

This is the pure model behind the napari plugin (no Qt, no napari): the plugin turns
mouse work into these types and shows what they compute. A :class:`Reading` holds

* the series of a study and the time point each one is assigned to,
* lesions with one identity across time points (kind, organ, nodal flag),
* per time point a :class:`Finding`: a status and the measurement lines (end points
  in patient LPS millimetres, with series UID, SOP instance UID and slice index) or
  a point marker.

It converts to the annotation format (:mod:`recist_tool.annotations`, one row per
lesion per time point) and to a JSON sidecar that keeps the geometry; both are
written atomically by :meth:`Reading.save` and restored by :meth:`Reading.load`.
The sidecar schema is documented in ``docs/annotation_format.md`` ("JSON sidecar").

The package's modules: :mod:`~recist_tool.reading.geometry` (series grids, lines,
markers), :mod:`~recist_tool.reading.findings` (findings, lesions, series, time
points, notes), :mod:`~recist_tool.reading.dates`, :mod:`~recist_tool.reading.model`
(:class:`Reading` and loading it), :mod:`~recist_tool.reading.storage` (snapshot,
sidecar and recovery files), :mod:`~recist_tool.reading.checks` (axis checks and the
RECIST engine), :mod:`~recist_tool.reading.constants` and
:mod:`~recist_tool.reading.errors`. Import from ``recist_tool.reading`` itself.
"""

from recist_tool.reading.assist import apply_proposal, proposal_lines
from recist_tool.reading.checks import axis_checks, evaluate_reading
from recist_tool.reading.constants import (
    BASELINE_LABEL,
    LENGTH_DECIMALS,
    PERPENDICULAR_TOLERANCE_DEG,
    SIDECAR_FORMAT,
    SIDECAR_VERSION,
)
from recist_tool.reading.dates import dicom_date
from recist_tool.reading.errors import ReadingError
from recist_tool.reading.findings import Finding, Lesion, Note, SeriesInfo, TimePoint
from recist_tool.reading.geometry import Line, Marker, Point3, SeriesGeometry, axis_angle_deg
from recist_tool.reading.model import Reading, load_sidecar
from recist_tool.reading.storage import (
    Snapshot,
    drop_recovery,
    recovery_path,
    sidecar_path,
    write_recovery,
    write_snapshot,
)

__all__ = [
    "BASELINE_LABEL",
    "LENGTH_DECIMALS",
    "PERPENDICULAR_TOLERANCE_DEG",
    "SIDECAR_FORMAT",
    "SIDECAR_VERSION",
    "Finding",
    "Lesion",
    "Line",
    "Marker",
    "Note",
    "Point3",
    "Reading",
    "ReadingError",
    "SeriesGeometry",
    "SeriesInfo",
    "Snapshot",
    "TimePoint",
    "apply_proposal",
    "axis_angle_deg",
    "axis_checks",
    "dicom_date",
    "drop_recovery",
    "evaluate_reading",
    "load_sidecar",
    "proposal_lines",
    "recovery_path",
    "sidecar_path",
    "write_recovery",
    "write_snapshot",
]
