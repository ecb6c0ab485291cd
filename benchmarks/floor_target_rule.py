"""The floor: just the RECIST target rule on an annotation CSV, with pyarrow and numpy.

Reads the target rows, sums per time point (short axis for nodes, 5 mm when too
small, 0 when gone), and calls CR/PR/SD/PD from baseline and nadir. No checks, no
messages, no non-target or new lesions, no best response: what any RECIST code must
at least do. Usage: ``python floor_target_rule.py IN.csv OUT.csv``.
"""

import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

cols = ["patient_id", "timepoint", "date", "kind", "nodal", "long_axis_mm", "short_axis_mm"]
t = pacsv.read_csv(
    sys.argv[1],
    convert_options=pacsv.ConvertOptions(
        include_columns=[*cols, "status"],
        column_types={
            "date": pa.date32(),
            "long_axis_mm": pa.float64(),
            "short_axis_mm": pa.float64(),
        },
    ),
)
t = t.filter(pc.equal(t["kind"], "target"))
size = pc.if_else(t["nodal"], t["short_axis_mm"], t["long_axis_mm"])  # read as bool
size = pc.if_else(pc.equal(t["status"], "too_small"), 5.0, size)
size = pc.if_else(pc.equal(t["status"], "disappeared"), 0.0, size)
t = t.append_column("size", pc.fill_null(size, 0.0))
g = t.group_by(["patient_id", "timepoint"]).aggregate([("size", "sum"), ("date", "min")])
g = g.sort_by([("patient_id", "ascending"), ("date_min", "ascending")])
pid = g["patient_id"].combine_chunks().dictionary_encode().indices.to_numpy()
s = g["size_sum"].to_numpy()
first = np.r_[True, pid[1:] != pid[:-1]]
start = np.flatnonzero(first)
rank = np.arange(len(pid)) - np.repeat(start, np.diff(np.r_[start, len(pid)]))
base = np.repeat(s[start], np.diff(np.r_[start, len(pid)]))
nadir = np.full(len(s), np.inf)  # minimum of the earlier sums of the patient
for r in range(1, int(rank.max(initial=0)) + 1):
    at = np.flatnonzero(rank == r)
    nadir[at] = np.minimum(nadir[at - 1], s[at - 1])
pct = np.where(rank > 0, (s - base) * 100 / base, np.nan)
resp = np.where(s == 0, "CR", np.where((s >= 1.2 * nadir) & (s - nadir >= 5), "PD",
                np.where(pct <= -30, "PR", "SD")))  # fmt: skip
resp = np.where(rank == 0, "", resp)
out = pa.table({"patient_id": g["patient_id"], "timepoint": g["timepoint"], "date": g["date_min"],
                "sum_mm": s, "change_pct": pct, "target_response": resp})  # fmt: skip
pacsv.write_csv(out, sys.argv[2])
