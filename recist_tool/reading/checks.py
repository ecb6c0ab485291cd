"""Checks of a reading: the model's own axis checks and the RECIST engine.

:func:`axis_checks` warns about a finding's axes (not perpendicular, on different
slices, short longer than long); :class:`~recist_tool.reading.model.Reading` turns
these into notes. :func:`evaluate_reading` runs :func:`recist_tool.response.evaluate`
on a reading's annotation rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from recist_tool.reading.constants import PERPENDICULAR_TOLERANCE_DEG
from recist_tool.reading.findings import Finding
from recist_tool.reading.geometry import axis_angle_deg

if TYPE_CHECKING:
    from recist_tool.reading.model import Reading


def axis_checks(finding: Finding) -> list[tuple[str, str]]:
    """Warnings about a node's axes: not perpendicular, short longer than long.

    Returns
    -------
    list of (severity, message)
    """
    out: list[tuple[str, str]] = []
    la, sa = finding.long_axis, finding.short_axis
    lm, sm = finding.long_mm, finding.short_mm
    if la is not None and sa is not None:
        angle = axis_angle_deg(la, sa)
        if angle < 90.0 - PERPENDICULAR_TOLERANCE_DEG:
            out.append(
                (
                    "warning",
                    f"short axis is {angle:.0f}° from the long axis "
                    f"(should be perpendicular within {PERPENDICULAR_TOLERANCE_DEG:.0f}°)",
                )
            )
        known = None not in (la.slice_index, sa.slice_index)
        if known and la.series_uid == sa.series_uid and la.slice_index != sa.slice_index:
            out.append(("warning", "long and short axis are on different slices"))
    if lm is not None and sm is not None and sm > lm:
        out.append(("warning", f"short axis {sm:g} mm is longer than the long axis {lm:g} mm"))
    return out


def evaluate_reading(reading: Reading, settings: Any = None) -> Any:
    """Run the RECIST engine on a reading (without the lesions of
    :meth:`Reading.unplaced_lesions <recist_tool.reading.Reading.unplaced_lesions>`).

    Parameters
    ----------
    reading : Reading
    settings : recist_tool.response.ResponseSettings, optional

    Returns
    -------
    recist_tool.response.Evaluation
    """
    from recist_tool.response import ResponseSettings, evaluate

    # Records go straight to the engine's checks (no DataFrame round trip): this runs
    # after every edit in the plugin. Lesions the engine cannot take as they are (a
    # target first recorded at follow-up …) are left out; ``Reading.notes`` says so
    # next to each of them, and the response of the rest stays visible.
    skip = set(reading.unplaced_lesions())
    rows = [m for m in reading.to_measurements() if m.lesion_id not in skip]
    return evaluate(rows, settings or ResponseSettings())
