"""Constants of the reading model: sidecar identity, rounding, tolerances, defaults.

The public ones (sidecar format and version, the length rounding of the annotation
table, the perpendicularity tolerance of node axes, the baseline label) are
re-exported by :mod:`recist_tool.reading`; the private ones (lesion id prefixes,
default statuses, statuses without a drawn size) are shared by its modules.
"""

from __future__ import annotations

#: Identifies a sidecar file written by this package.
SIDECAR_FORMAT = "recist-tool-reading"
#: Version of the sidecar schema; bumped only on incompatible changes.
SIDECAR_VERSION = 1
#: Lengths are written to the annotation table with this many decimals (0.1 mm, as
#: a PACS displays them); the sidecar keeps the exact end points.
LENGTH_DECIMALS = 1
#: Short and long axis of a node should be perpendicular within this many degrees.
PERPENDICULAR_TOLERANCE_DEG = 10.0
#: Label of the baseline time point suggested by default.
BASELINE_LABEL = "baseline"

_ID_PREFIX = {"target": "T", "non_target": "NT", "new": "NL"}
_DEFAULT_STATUS = {"target": "measured", "non_target": "present", "new": "present"}
# Statuses of a target whose size is not a drawn line: the line is dropped (a node
# keeps its short axis, which RECIST still uses for a "disappeared" node).
_SIZELESS_TARGET = ("too_small", "disappeared", "not_evaluated")
