"""Measurement assistance in a reading: accepting a proposal, and its CSV columns.

A proposal (:class:`recist_tool.measure.Proposal`) accepted by the reader becomes the
finding's long and short axis lines with ``method = "assisted"``, its ``volume_ml``
and ``mean_hu``; a proposed line later changed by hand turns the method into
``"assisted_edited"`` (:meth:`recist_tool.reading.Reading.set_line` does that); lines
drawn by hand are ``"manual"``. The annotation CSV carries the three columns
``method``, ``volume_ml``, ``mean_hu`` (see ``docs/annotation_format.md``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from recist_tool.reading.errors import ReadingError
from recist_tool.reading.findings import Finding
from recist_tool.reading.geometry import Line, SeriesGeometry

if TYPE_CHECKING:
    from recist_tool.reading.model import Reading

#: Decimals written to the CSV: volume to 0.001 mL (1 mm³), mean to 0.1 HU.
VOLUME_DECIMALS = 3
HU_DECIMALS = 1


def assist_columns(finding: Finding) -> dict[str, str]:
    """The ``method``, ``volume_ml`` and ``mean_hu`` cells of a finding's CSV row.

    A finding with a line and no method was drawn by hand (``manual``); one without
    lines keeps whatever method it was imported with ("" when none).
    """
    drawn = finding.long_axis is not None or finding.short_axis is not None
    method = finding.method or ("manual" if drawn else "")
    return {
        "method": method,
        "volume_ml": _text(finding.volume_ml, VOLUME_DECIMALS),
        "mean_hu": _text(finding.mean_hu, HU_DECIMALS),
    }


def assist_fields(extra: dict[str, str]) -> dict[str, Any]:
    """Finding fields from an annotation row's extra columns (inverse of
    :func:`assist_columns`; ``manual`` is the default and is not stored)."""
    method = (extra.get("method") or "").strip().lower() or None
    return {
        "method": None if method in (None, "manual") else method,
        "volume_ml": _number(extra.get("volume_ml")),
        "mean_hu": _number(extra.get("mean_hu")),
    }


def _text(v: float | None, decimals: int) -> str:
    if v is None or not math.isfinite(v):
        return ""
    return f"{round(float(v), decimals):.{decimals}f}".rstrip("0").rstrip(".")


def _number(v: Any) -> float | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    try:
        f = float(v)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def proposal_lines(proposal: Any, geometry: SeriesGeometry) -> tuple[Line, Line]:
    """The long and short axis of a proposal as :class:`Line` s of ``geometry``'s
    series (on the proposal's slice, with its SOP Instance UID)."""
    k = int(proposal.slice_index)
    sop = geometry.sop_instance_uid(k)

    def line(points) -> Line:
        p1, p2 = (tuple(float(c) for c in p) for p in points)
        return Line(p1, p2, geometry.series_uid, sop, k)  # type: ignore[arg-type]

    return line(proposal.long_axis_lps), line(proposal.short_axis_lps)


def apply_proposal(
    reading: Reading,
    lesion_id: str,
    timepoint: str,
    proposal: Any,
    geometry: SeriesGeometry,
    *,
    short_axis: bool = True,
) -> Finding:
    """Accept a proposal: its axes become the finding's lines, ``method`` is
    ``"assisted"``, ``volume_ml`` and ``mean_hu`` are recorded.

    Parameters
    ----------
    reading : Reading
    lesion_id, timepoint : str
    proposal : recist_tool.measure.Proposal
    geometry : SeriesGeometry
        The series the proposal was made on.
    short_axis : bool
        Also set the short axis line (always for a node).

    Returns
    -------
    Finding
    """
    lesion = reading.lesion(lesion_id)
    if proposal.slice_index is None or not geometry.series_uid:
        raise ReadingError(f"lesion {lesion_id}: the proposal has no series or slice")
    long_line, short_line = proposal_lines(proposal, geometry)
    with reading.transaction("accept_proposal"):  # one undoable, audited operation
        f = reading.set_line(lesion_id, timepoint, "long", long_line)
        f.method = None  # set_line must not see a proposal being replaced by hand
        if short_axis or lesion.nodal:
            f = reading.set_line(lesion_id, timepoint, "short", short_line)
        f.method = "assisted"
        f.volume_ml = float(proposal.volume_ml)
        f.mean_hu = float(proposal.mean_hu)
    return f


__all__ = [
    "HU_DECIMALS",
    "VOLUME_DECIMALS",
    "apply_proposal",
    "assist_columns",
    "assist_fields",
    "proposal_lines",
    "proposes_at_follow_up",
]


#: Beyond half its longest axis, how far (mm) a click may lie from a lesion's
#: measurement at a time point and still re-measure that lesion (a marker: this far).
REMEASURE_MARGIN_MM = 5.0
#: Beyond its longest axis (the largest at any time point), how far (mm) a click may
#: lie from a lesion's registered position at a follow-up where it has no measurement
#: yet and still be that lesion: the registration's error (median ≤ 3 mm measured,
#: ``bench_assist``), growth and a click anywhere inside it.
FIND_MARGIN_MM = 15.0


def _half_axis(f: Any) -> float:
    return max((ln.length_mm / 2 for ln in (f.long_axis, f.short_axis) if ln), default=0.0)


def proposal_lesion(
    reading: Reading,
    active: str | None,
    timepoint: str,
    seed_lps: Any,
    expected_lps: Any = None,
) -> str | None:
    """The lesion an Alt+click proposal at ``seed_lps`` is for, or None for a new one.

    The active lesion when the click lies on its measurement at ``timepoint``
    (re-measured: within half its longest axis plus :data:`REMEASURE_MARGIN_MM` of its
    position), or when it has no measurement there yet (at follow-up: the baseline
    lesion selected, then clicked) and the click lies near where it is expected:
    within its longest axis (at any time point) plus :data:`FIND_MARGIN_MM` of
    ``expected_lps``, its registered position there. Without ``expected_lps`` (no
    registration known) any click is taken for it; the proposal's status names the
    lesion. A click elsewhere is another lesion: it must never replace the active
    lesion's measurement or status.

    Examples
    --------
    >>> from recist_tool.reading import Line, Reading
    >>> r = Reading(patient_id="P1")
    >>> _ = r.set_timepoint("baseline", "2024-01-01"), r.set_timepoint("FU1", "2024-04-01")
    >>> _ = r.add_lesion("target", "liver")
    >>> _ = r.set_line("T1", "baseline", "long", Line((0.0, 0, 0), (40.0, 0, 0)))
    >>> proposal_lesion(r, "T1", "FU1", (30.0, 0, 0), expected_lps=(22.0, 0, 0))
    'T1'
    >>> proposal_lesion(r, "T1", "FU1", (90.0, 0, 0), expected_lps=(22.0, 0, 0)) is None
    True
    """
    if active is None or active not in {le.lesion_id for le in reading.lesions}:
        return None
    lesion = reading.lesion(active)
    f = lesion.findings.get(timepoint)
    pos = None if f is None else f.position_lps
    if pos is None:
        if expected_lps is None:
            return active
        size = 2 * max((_half_axis(g) for g in lesion.findings.values()), default=0.0)
        return active if math.dist(expected_lps, seed_lps) <= size + FIND_MARGIN_MM else None
    return active if math.dist(pos, seed_lps) <= _half_axis(f) + REMEASURE_MARGIN_MM else None


def proposes_at_follow_up(kind: str) -> bool:
    """Whether selecting a lesion of ``kind`` at follow-up offers a proposal of its
    axes at its registered position.

    Only a target is measured at each time point (RECIST 1.1: the sum of diameters);
    a non-target is assessed by its status (present, absent, unequivocal
    progression), so it is shown at its registered position and no axes are offered.
    An Alt+click inside it still measures it when the reader wants a size on record.
    """
    return kind == "target"
