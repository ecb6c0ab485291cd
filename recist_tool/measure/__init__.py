"""Measurement assistance: one click in a lesion gives its RECIST axes.

Public API::

    from recist_tool.measure import propose, Proposal, MeasureError

``propose(volume, seed_lps, axis_hint=None, nodal=False)`` segments the lesion under
the click (:mod:`~recist_tool.measure.segment`, classical and on CPU, in a crop around
the seed) and measures it (:mod:`~recist_tool.measure.axes`): the long axis is the
maximum Feret (caliper) diameter over the lesion's axial slices, the short axis the
longest chord perpendicular to it on the same slice, both on the sub-pixel outline.
The :class:`Proposal` also has the volume, the mean HU, the mask and a confidence with
the reason when it is low.
"""

from recist_tool.measure.axes import PlanarAxes, feret_max, perpendicular_axis, planar_axes
from recist_tool.measure.propose import LOW_CONFIDENCE, MeasureError, Proposal, propose
from recist_tool.measure.roi import RoiError, line_roi_mean_hu

__all__ = [
    "LOW_CONFIDENCE",
    "MeasureError",
    "PlanarAxes",
    "Proposal",
    "RoiError",
    "feret_max",
    "line_roi_mean_hu",
    "perpendicular_axis",
    "planar_axes",
    "propose",
]
