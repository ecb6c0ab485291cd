"""A reader's work on one patient: time points, lesions and their measurement lines.

This is the pure model behind the napari plugin (no Qt, no napari): the plugin turns
mouse work into these types and shows what they compute. A :class:`Reading` holds

* the series of a study and the time point each one is assigned to,
* lesions with one identity across time points (kind, organ, nodal flag),
* per time point a :class:`Finding`: a status and the measurement lines (end points
  in patient LPS millimetres, with series UID, SOP instance UID and slice index) or
  a point marker.

Every edit is one operation: recorded for :meth:`Reading.undo`/:meth:`Reading.redo`,
told to listeners such as the :class:`AuditTrail` (``<reading>.audit.jsonl``), and
checked against the lock policy (:class:`Locks`: the time point being read is
editable, the others are read-only unless unlocked; a refused edit raises
:class:`TimePointLockedError` and changes nothing).

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
:mod:`~recist_tool.reading.errors`, :mod:`~recist_tool.reading.history` (states,
differences, undo stack), :mod:`~recist_tool.reading.locks` (edit routing),
:mod:`~recist_tool.reading.policy` (lesion ids, time points by date, where a reading
opens) and :mod:`~recist_tool.reading.audit`. Import from ``recist_tool.reading`` itself.
"""

from recist_tool.reading.assist import apply_proposal, proposal_lines
from recist_tool.reading.audit import AuditTrail, audit_path, read_audit
from recist_tool.reading.checks import axis_checks, evaluate_reading
from recist_tool.reading.constants import (
    BASELINE_LABEL,
    LENGTH_DECIMALS,
    PERPENDICULAR_TOLERANCE_DEG,
    SIDECAR_FORMAT,
    SIDECAR_VERSION,
)
from recist_tool.reading.dates import dicom_date
from recist_tool.reading.errors import ReadingError, TimePointLockedError
from recist_tool.reading.findings import (
    Finding,
    Fragment,
    Lesion,
    Note,
    SeriesInfo,
    TimePoint,
)
from recist_tool.reading.geometry import Line, Marker, Point3, SeriesGeometry, axis_angle_deg
from recist_tool.reading.history import Event, Step
from recist_tool.reading.locks import Locks
from recist_tool.reading.model import Reading, load_sidecar
from recist_tool.reading.storage import (
    Snapshot,
    changed_elsewhere,
    csv_state,
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
    "AuditTrail",
    "Event",
    "Finding",
    "Fragment",
    "Lesion",
    "Line",
    "Locks",
    "Marker",
    "Note",
    "Point3",
    "Reading",
    "ReadingError",
    "SeriesGeometry",
    "SeriesInfo",
    "Snapshot",
    "Step",
    "TimePoint",
    "TimePointLockedError",
    "apply_proposal",
    "audit_path",
    "axis_angle_deg",
    "axis_checks",
    "changed_elsewhere",
    "csv_state",
    "dicom_date",
    "drop_recovery",
    "evaluate_reading",
    "load_sidecar",
    "proposal_lines",
    "read_audit",
    "recovery_path",
    "sidecar_path",
    "write_recovery",
    "write_snapshot",
]
