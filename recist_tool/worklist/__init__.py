"""The cohort worklist: studies, patients per reader, status, readings, sign-off.

Core of ``recist-tool worklist`` and of the plugin's worklist panel (no Qt):

- :class:`Worklist` — a cohort folder (``COHORT_DIR``): :meth:`~Worklist.entries`
  (filter by reader, status, text), :meth:`~Worklist.progress`,
  :meth:`~Worklist.next_patient`, :meth:`~Worklist.plan` (time points and folders),
  :meth:`~Worklist.fetch` (pull from the PACS into the cache),
  :meth:`~Worklist.series_to_open`, :meth:`~Worklist.load_reading` /
  :meth:`~Worklist.save_reading`, :meth:`~Worklist.mark`, :meth:`~Worklist.sign`;
- :mod:`~recist_tool.worklist.build` — studies from a folder or a PACS search, and
  the proposed time points (earliest = baseline);
- :mod:`~recist_tool.worklist.layout` — the cohort folder's file and reader names,
  reader assignment (round-robin or a CSV), shared with :mod:`recist_tool.readers`.

The layout is described in :mod:`recist_tool.worklist.model` and docs/pacs.md.
"""

from recist_tool.worklist.build import (
    StudyRow,
    from_folder,
    from_pacs,
    propose_timepoints,
    read_patient_list,
)
from recist_tool.worklist.errors import WorklistError
from recist_tool.worklist.layout import (
    ADJUDICATED,
    FINISHED,
    STATUSES,
    assign_readers,
    check_reader,
    patient_file_stem,
    read_assignments,
    reading_path,
)
from recist_tool.worklist.model import (
    Entry,
    SeriesChoice,
    TimePointPlan,
    Worklist,
)

__all__ = [
    "ADJUDICATED",
    "FINISHED",
    "STATUSES",
    "Entry",
    "SeriesChoice",
    "StudyRow",
    "TimePointPlan",
    "Worklist",
    "WorklistError",
    "assign_readers",
    "check_reader",
    "from_folder",
    "from_pacs",
    "patient_file_stem",
    "propose_timepoints",
    "read_assignments",
    "read_patient_list",
    "reading_path",
]
