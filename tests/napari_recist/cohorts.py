"""A small synthetic double-read cohort WITH images, as the worklist makes one.

``recist-tool synth studies`` (CT studies and truth readings with their lines) ->
``Worklist.create`` with two readers on every patient -> each reader's reading saved
through ``Worklist.save_reading`` -> both signed. ``r2`` measures every line a few
per cent longer and turned by a few degrees (so both readers' lines show side by
side), and calls DEMO-001's non-target progressed at fu1 (PR -> PD): DEMO-001 is
discordant, DEMO-002 concordant. ``adjudication.csv`` is not written (the
adjudicator's view runs the core's discordance).
"""

from __future__ import annotations

import math
from pathlib import Path

from recist_tool.reading import Line, Reading
from recist_tool.synth.demo import write_demo_cohort
from recist_tool.worklist import Worklist, assign_readers
from recist_tool.worklist.build import from_folder

READERS = ("r1", "r2")


def _turned(line: Line, f: float, deg: float) -> Line:
    """The line scaled by ``f`` and turned by ``deg`` in the axial plane about its middle."""
    mid = [(a + b) / 2 for a, b in zip(line.p1_lps, line.p2_lps, strict=True)]
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    ends = []
    for q in (line.p1_lps, line.p2_lps):
        dx, dy = (q[0] - mid[0]) * f, (q[1] - mid[1]) * f
        ends.append((mid[0] + c * dx - s * dy, mid[1] + s * dx + c * dy, q[2]))
    return Line(ends[0], ends[1], line.series_uid, line.sop_instance_uid, line.slice_index)


def make_double_read(tmp: Path, n: int = 2) -> Path:
    """Write the demo studies under ``tmp/demo`` and the cohort; returns COHORT_DIR."""
    demo = tmp / "demo"
    write_demo_cohort(demo, n=n)
    cohort = demo / "cohort"
    studies = from_folder(demo / "dicom", "CT")
    pids = list(dict.fromkeys(s.patient_id for s in studies))
    src = {"kind": "folder", "path": str(demo / "dicom")}
    wl = Worklist.create(cohort, studies, src, assign_readers(pids, READERS, 2), "CT")
    for reader in READERS:
        for pid in wl.patients():
            reading = Reading.load(demo / "readings" / f"{pid}.csv")
            reading.rename_timepoint("followup", "fu1")
            if reader == "r2":
                for lesion in reading.lesions:
                    for tp, finding in lesion.findings.items():
                        for axis in ("long", "short"):
                            line = getattr(finding, f"{axis}_axis")
                            if line is not None:
                                new = _turned(line, 1.06, 9.0)
                                reading.set_line(lesion.lesion_id, tp, axis, new)
                if pid == "DEMO-001":
                    reading.set_status("NT1", "fu1", "progression")
            wl.save_reading(reading, reader)
        for pid in wl.patients():
            wl.sign(pid, reader)
    return cohort
