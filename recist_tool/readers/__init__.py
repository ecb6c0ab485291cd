"""Several readers per patient: blinded double reading, adjudication and agreement.

The cohort layout is the worklist's (issue 13)::

    COHORT_DIR/
      worklist.csv                       (optional here: reading status per reader)
      assignments.csv                    (optional: patient_id, reader)
      readings/<reader>/<patient>.csv    (+ <patient>.json sidecar, <patient>.audit.jsonl)
      readings/adjudicated/<patient>.csv (the adjudicated reading, with provenance)

Modules: :mod:`~recist_tool.readers.cohort` (finding and evaluating the readings,
reader assignment), :mod:`~recist_tool.readers.discordance` (which patients need an
adjudicator, by configurable charter rules), :mod:`~recist_tool.readers.adjudication`
(writing the adjudicated readings with an audit trail),
:mod:`~recist_tool.readers.matching` (the same lesion in two readings),
:mod:`~recist_tool.readers.agreement` (kappa, ICC, Bland–Altman) and
:mod:`~recist_tool.readers.report` (the cohort report's agreement section).
Every response comes from :func:`recist_tool.response.evaluate`.
"""

from recist_tool.readers.cohort import (
    ADJUDICATED,
    CohortReadings,
    ReadersError,
    assign_readers,
    load_cohort,
    read_assignments,
)

__all__ = [
    "ADJUDICATED",
    "CohortReadings",
    "ReadersError",
    "assign_readers",
    "load_cohort",
    "read_assignments",
]
