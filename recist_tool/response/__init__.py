"""RECIST 1.1 response: sums, nadir, per time point and best overall response.

The rules are those of ``shared/recist11.md`` (Eisenhauer 2009, Schwartz 2016 and
the working-group FAQ); conventions where RECIST is silent are settings of
:class:`ResponseSettings`.
"""

from recist_tool.response.evaluation import (
    PATIENT_COLUMNS,
    TIMEPOINT_COLUMNS,
    Evaluation,
    evaluate,
)
from recist_tool.response.messages import MESSAGE_COLUMNS
from recist_tool.response.settings import ResponseSettings

__all__ = [
    "MESSAGE_COLUMNS",
    "PATIENT_COLUMNS",
    "TIMEPOINT_COLUMNS",
    "Evaluation",
    "ResponseSettings",
    "evaluate",
]
