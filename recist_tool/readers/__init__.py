"""Several readers per patient: blinded double reading, adjudication and agreement.

The cohort folder is the worklist's (:mod:`recist_tool.worklist`, whose
:mod:`~recist_tool.worklist.layout` defines its names and the reader assignment)::

    COHORT_DIR/
      cohort.json, studies.csv, worklist.csv   (the worklist: readers, status per patient)
      readings/<reader>/<patient>.csv          (+ .json sidecar, .audit.jsonl, .signoff.json)
      readings/adjudicated/<patient>.csv       (the adjudicated reading, with provenance,
                                                + .audit.jsonl)
      adjudication.csv, concordance.csv        (written by recist-tool adjudicate)

Without a worklist (a folder of readings made elsewhere) every reading counts.

Modules: :mod:`~recist_tool.readers.cohort` (finding and evaluating the readings,
with the worklist's status), :mod:`~recist_tool.readers.discordance` (which patients need an
adjudicator, by configurable charter rules), :mod:`~recist_tool.readers.adjudication`
(writing the adjudicated readings with an audit trail),
:mod:`~recist_tool.readers.matching` (the same lesion in two readings),
:mod:`~recist_tool.readers.agreement` (kappa, ICC, Bland–Altman) and
:mod:`~recist_tool.readers.report` (the cohort report's agreement section).
Every response comes from :func:`recist_tool.response.evaluate`.
"""

from recist_tool.readers.cohort import CohortReadings, ReadersError, load_cohort

__all__ = ["CohortReadings", "ReadersError", "load_cohort"]
