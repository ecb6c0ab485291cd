"""A compact way to write annotation rows in tests.

``patient(tp(0, L1=100, N1=node(17)), tp(56, L1=70, N1=node(8)))`` builds the rows of
one patient: time points at day offsets from 2024-01-01, lesion specs by id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from recist_tool.annotations import Measurement

DAY0 = dt.date(2024, 1, 1)


@dataclass
class Spec:
    kind: str = "target"
    status: str = "measured"
    la: float | None = None
    sa: float | None = None
    nodal: bool = False
    organ: str = "liver"


def node(sa: float, la: float | None = None, status: str = "measured", organ: str = "node"):
    """A nodal target (short axis ``sa``)."""
    return Spec("target", status, la if la is not None else sa + 5, sa, True, organ)


def nt(status: str = "present", nodal: bool = False, sa: float | None = None, organ="bone"):
    """A non-target lesion."""
    return Spec("non_target", status, None, sa, nodal, organ)


def new(status: str = "present", nodal: bool = False, sa: float | None = None):
    """A new lesion."""
    return Spec("new", status, None, sa, nodal, "liver")


TOO_SMALL = Spec("target", "too_small")
GONE = Spec("target", "disappeared")
NE_ = Spec("target", "not_evaluated")


def tp(day: int, label: str | None = None, **lesions) -> tuple[int, str, dict]:
    """One time point: day offset, label (default ``d<day>``), lesion specs."""
    return (day, label or ("baseline" if day == 0 else f"d{day}"), lesions)


def patient(*timepoints, pid: str = "P1", organs: dict[str, str] | None = None):
    """Rows of one patient; a bare number is a measured non-nodal target (long axis)."""
    rows = []
    for day, label, lesions in timepoints:
        date = (DAY0 + dt.timedelta(days=day)).isoformat()
        for lid, spec in lesions.items():
            if not isinstance(spec, Spec):
                spec = Spec(la=float(spec))
            organ = (organs or {}).get(lid, spec.organ)
            rows.append(
                Measurement(
                    pid,
                    label,
                    date,
                    lid,
                    spec.kind,
                    organ,
                    spec.nodal,
                    spec.la,
                    spec.sa,
                    spec.status,
                )
            )
    return rows
