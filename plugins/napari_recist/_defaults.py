"""Names and defaults shared by the reading session's modules.

The npe2 plugin name the session opens studies with, the environment variable and
default folder where readings are saved (:func:`default_readings_dir`, with the file
name made from the patient ID), the organs offered for a new lesion and the colours
of lines and markers by lesion kind. Plain values only: nothing here touches napari.
"""

from __future__ import annotations

import os
from pathlib import Path

#: npe2 plugin name (the distribution's name).
PLUGIN = "recist-tool"
#: Environment variable naming the folder where readings are saved by default.
READINGS_ENV = "RECIST_READINGS_DIR"
LINE_COLORS = {"long": "yellow", "short": "orange"}
KIND_COLORS = {"target": "yellow", "non_target": "cyan", "new": "magenta"}
DEFAULT_ORGANS = (
    "liver",
    "lung",
    "lymph node",
    "adrenal gland",
    "kidney",
    "pancreas",
    "spleen",
    "bone",
    "peritoneum",
    "pleura",
    "soft tissue",
    "brain",
)


def default_readings_dir() -> Path:
    """``$RECIST_READINGS_DIR``, else ``~/recist-tool/readings``."""
    env = os.environ.get(READINGS_ENV)
    return Path(env) if env else Path.home() / "recist-tool" / "readings"
