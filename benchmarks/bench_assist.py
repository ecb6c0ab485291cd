"""Benchmark: measurement assistance (one click → RECIST axes) and follow-up registration.

All in one run (medians; the machine is shared, so ratios against peers in the same
run are the figures to trust):

1. **Accuracy** on ``--lesions`` generated irregular lesions
   (:func:`recist_tool.synth.lesions.random_scene`: liver, lung, lymph node; 10–80 mm;
   lobulated / irregular; touching a vessel or an organ edge in 70 %; noise σ 10–20 HU;
   contrast 20–60 HU against what they touch; 1–2.5 mm slices, 0.65–0.85 mm pixels),
   truth from the analytic shape. Errors of the long and short axis and of the volume,
   by site, size and contrast; the failures (axis off by > 2.5 mm or volume by > 25 %)
   with their confidence, split into those just beyond the tolerance and the gross ones
   (an axis off by > 4 mm or the volume by > 40 %), and those in what the response
   criteria count (the long axis; a node's short axis; the volume). Peers on the
   same lesions: *moment ellipse* (our segmentation, axes from scikit-image's
   ``axis_major_length`` / ``axis_minor_length`` on the slice of largest area) and
   *threshold* (one threshold half-way between the seed's level and the surrounding
   ring's, the connected component of the seed, the caliper ``feret_diameter_max`` on
   the voxel mask). Failures whose axes are within the tolerance of the truth on a
   slice the truth rates within the slice-tie margin of its own (the truth's own coin
   toss between two slices) are counted apart.
2. **Click → proposal** time on a 512 × 512 × 300 series (the body phantom with six
   lesions), each lesion clicked ``--repeat`` times; the threshold peer timed alike;
   then each clicked in its outer part (four points, as ``--off-centre``): the time
   against the centre clicks.
3. **Registration** of a 512 × 512 × 300 follow-up (known rigid + affine + 2.5 mm
   deformation, other contrast phase, lesions shrunk) to its baseline: wall time and
   target registration error at the lesion centres, global and with the local
   refinement; peer: no registration (the same LPS position; "same slice index").

5. ``--off-centre``: **where the click falls.** Each lesion is clicked at its usual
   seed, at four more points inside the proposal (the deepest-but-outermost point of
   each quadrant of its measured slice, at least 40 % of the way in from the edge) and
   at the outline's centre on the slices half-way to the lesion's top and bottom: how
   many of those clicks give a proposal, the same one (both axes within 0.5 mm), one
   within the tolerance of the truth, and their failures flagged or confident.

4. ``--window``: **Alt+click → proposal drawn** in a shown napari window with the
   reading widget on the 512 × 512 × 300 DICOM series of ``bench_plugin.series_folder``
   (a real click on the canvas, until the canvas has finished drawing the proposal),
   against ``propose()`` alone on the same seed; with ``--outer`` each lesion is also
   clicked in its outer part (four points as ``--off-centre``), against the centre
   clicks of the same run.

Usage::

    .venv/bin/python benchmarks/bench_assist.py                  # full run
    .venv/bin/python benchmarks/bench_assist.py --lesions 60 --no-big   # quick
    .venv/bin/python benchmarks/bench_assist.py --no-big --start 1020 --lesions 180  # held out
    .venv/bin/python benchmarks/bench_assist.py --no-big --slice-mm 5 --start 36000
    .venv/bin/python benchmarks/bench_assist.py --no-big --pixel-mm 3 --slice-mm 5 --start 40000
    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/bench_assist.py --window
    xvfb-run -a -s "-screen 0 1600x1000x24" \
        .venv/bin/python benchmarks/bench_assist.py --window --outer
    .venv/bin/python benchmarks/bench_assist.py --crosscheck-cost --repeat 5
    .venv/bin/python benchmarks/bench_assist.py --off-centre --start 23000 --lesions 240
    .venv/bin/python benchmarks/bench_assist.py --stability-cost --repeat 5

Generated series are cached under ``benchmarks/_data/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"


# ------------------------------------------------------------------------------ peers


def peer_threshold(vol, seed_lps):
    """Threshold half-way between the seed's level and a ring 15–25 mm around it on
    its slice, connected component of the seed (3-D), caliper on the voxel mask."""
    from scipy import ndimage as ndi
    from skimage.measure import regionprops

    k, j, i = np.rint(vol.lps_to_index(seed_lps)).astype(int)
    sp = np.asarray(vol.spacing_zyx)
    r = int(40 / sp[1])
    box = (
        slice(max(0, k - int(40 / sp[0])), k + int(40 / sp[0]) + 1),
        slice(max(0, j - r), j + r + 1),
        slice(max(0, i - r), i + r + 1),
    )
    a = vol.array[box].astype(np.float32)
    s = (k - box[0].start, j - box[1].start, i - box[2].start)
    level = float(np.median(a[s[0], s[1] - 1 : s[1] + 2, s[2] - 1 : s[2] + 2]))
    yy, xx = np.mgrid[: a.shape[1], : a.shape[2]]
    d = np.hypot((yy - s[1]) * sp[1], (xx - s[2]) * sp[2])
    ring = float(np.median(a[s[0]][(d > 15) & (d < 25)]))
    t = (level + ring) / 2
    m = a >= t if level > ring else a <= t
    lab, _ = ndi.label(m)
    comp = lab == lab[s] if lab[s] else np.zeros_like(m)
    best = (0.0, 0.0, 0)
    for z in range(comp.shape[0]):
        if comp[z].any():
            f = regionprops(comp[z].astype(np.uint8))[0].feret_diameter_max * sp[1]
            if f > best[0]:
                best = (f, 0.0, z)
    if best[0] == 0:
        return 0.0, 0.0, 0.0
    z = best[2]
    # short axis: the moment ellipse's minor axis on that slice (a simple tool's answer)
    p = regionprops(comp[z].astype(np.uint8))[0]
    return best[0], p.axis_minor_length * sp[1], comp.sum() * float(np.prod(sp)) / 1000


def peer_ellipse(proposal, spacing):
    """Moment-ellipse axes of our own mask on its slice of largest area."""
    from skimage.measure import regionprops

    m = proposal.mask_crop
    k = int(np.argmax(m.sum(axis=(1, 2))))
    p = regionprops(m[k].astype(np.uint8))[0]
    return p.axis_major_length * spacing[1], p.axis_minor_length * spacing[1]


# --------------------------------------------------------------------------- accuracy


@dataclass
class _Nothing:
    """What a click that raised :class:`MeasureError` counts as: no axes, no volume."""

    reason: str
    long_axis_mm: float = 0.0
    short_axis_mm: float = 0.0
    volume_ml: float = 0.0
    mean_hu: float = float("nan")
    confidence: float = 0.0
    mask_crop: None = None


def accuracy(
    n: int, start: int, slice_mm: float | None = None, pixel_mm: float | None = None
) -> list[dict]:
    from recist_tool.measure import MeasureError, propose
    from recist_tool.synth.lesions import random_scene

    rows = []
    t_all = time.perf_counter()
    for seed in range(start, start + n):
        if slice_mm is None and pixel_mm is None:
            vol, truth = random_scene(seed)
        else:  # what is given; the rest as usual (their own draw)
            rng = np.random.default_rng([seed, 99])
            px = pixel_mm or float(rng.uniform(0.65, 0.85))
            dz = slice_mm or float(rng.choice([1.0, 1.25, 2.0, 2.5]))
            vol, truth = random_scene(seed, spacing_zyx=(dz, px, px))
        t0 = time.perf_counter()
        try:
            p = propose(vol, truth.seed_lps, nodal=truth.lesion.nodal)
        except MeasureError as e:  # nothing found at a click inside a lesion: a failure
            p = _Nothing(reason=f"error: {e}")
        dt = time.perf_counter() - t0
        el_, es_ = peer_ellipse(p, vol.spacing_zyx) if p.mask_crop is not None else (0.0, 0.0)
        tl, ts, tv = peer_threshold(vol, truth.seed_lps)
        rows.append(
            dict(
                seed=seed,
                site=truth.extra["site"],
                nodal=bool(truth.lesion.nodal),
                touching=truth.extra["touching"],
                size=truth.axes.long_mm,
                contrast=truth.contrast_hu,
                noise=truth.noise_hu,
                slice_mm=vol.spacing_zyx[0],
                long=truth.axes.long_mm,
                short=truth.axes.short_mm,
                volume=truth.volume_ml,
                hu=truth.lesion.hu,
                **_errors(p, truth),
                e_hu=p.mean_hu - truth.lesion.hu,
                truth_tie=_truth_tie(p, truth),
                confidence=p.confidence,
                reason=p.reason,
                neck_share=(getattr(p, "details", None) or {})
                .get("segmentation", {})
                .get("neck_share", 0.0),
                seconds=dt,
                ellipse_long=el_ - truth.axes.long_mm,
                ellipse_short=es_ - truth.axes.short_mm,
                thr_long=tl - truth.axes.long_mm,
                thr_short=ts - truth.axes.short_mm,
                thr_vol=tv / truth.volume_ml - 1,
                description=truth.description,
            )
        )
        if (seed - start + 1) % 20 == 0:
            print(
                f"  {seed - start + 1}/{n} lesions, {time.perf_counter() - t_all:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    return rows


def _stats(v):
    a = np.abs(np.asarray(v, float))
    return float(np.median(a)), float(np.percentile(a, 95))


def report_accuracy(rows: list[dict]) -> dict:
    out = {}
    print(f"\n## Accuracy on {len(rows)} irregular lesions (|error|: median / 95th percentile)\n")
    print("| method | long axis (mm) | short axis (mm) | volume (%) |")
    print("|---|---|---|---|")
    for name, kl, ks, kv in (
        ("recist-tool propose", "e_long", "e_short", "e_vol"),
        ("moment ellipse (our mask)", "ellipse_long", "ellipse_short", None),
        ("threshold + component (caliper)", "thr_long", "thr_short", "thr_vol"),
    ):
        ml, pl = _stats([r[kl] for r in rows])
        ms, ps = _stats([r[ks] for r in rows])
        vol = "–"
        if kv:
            mv, pv = _stats([100 * r[kv] for r in rows])
            vol = f"{mv:.1f} / {pv:.0f}"
        print(f"| {name} | {ml:.2f} / {pl:.2f} | {ms:.2f} / {ps:.2f} | {vol} |")
        out[name] = dict(long=(ml, pl), short=(ms, ps))
    conf = [r for r in rows if r["confidence"] >= 0.5]
    ml, pl = _stats([r["e_long"] for r in conf])
    ms, ps = _stats([r["e_short"] for r in conf])
    mv, pv = _stats([100 * r["e_vol"] for r in conf])
    print(
        f"| recist-tool, confidence ≥ 0.5 only ({len(conf)}) | {ml:.2f} / {pl:.2f} | "
        f"{ms:.2f} / {ps:.2f} | {mv:.1f} / {pv:.0f} |"
    )
    out["confident"] = dict(n=len(conf), long=(ml, pl), short=(ms, ps), vol=(mv, pv))
    hu = _stats([r["e_hu"] for r in rows if r["site"] != "lung" and np.isfinite(r["e_hu"])])
    print(f"\nmean HU error (liver, node): median {hu[0]:.1f} HU, p95 {hu[1]:.1f} HU")
    print(f"signed median errors: long {np.median([r['e_long'] for r in rows]):+.2f} mm, "
          f"short {np.median([r['e_short'] for r in rows]):+.2f} mm, "
          f"volume {100 * np.median([r['e_vol'] for r in rows]):+.1f} %")  # fmt: skip

    def table(key, bins, label):
        print(f"\n### By {label}\n")
        print(
            "| group | n | long median / p95 | short median / p95 | volume median % "
            "| failures (flagged) |"
        )
        print("|---|---|---|---|---|---|")
        for name, pred in bins:
            sel = [r for r in rows if pred(r[key])]
            if not sel:
                continue
            ml, pl = _stats([r["e_long"] for r in sel])
            ms, ps = _stats([r["e_short"] for r in sel])
            mv, _ = _stats([100 * r["e_vol"] for r in sel])
            fails = [r for r in sel if _failed(r)]
            flagged = sum(r["confidence"] < 0.5 for r in fails)
            print(f"| {name} | {len(sel)} | {ml:.2f} / {pl:.2f} | {ms:.2f} / {ps:.2f} | "
                  f"{mv:.1f} | {len(fails)} ({flagged}) |")  # fmt: skip

    table("site", [(s, lambda v, s=s: v == s) for s in ("liver", "lung", "lymph_node")], "site")
    table("size", [("10–20 mm", lambda v: v < 20), ("20–40 mm", lambda v: 20 <= v < 40),
                   ("40–80 mm", lambda v: v >= 40)], "size")  # fmt: skip
    table("contrast", [("20–35 HU", lambda v: v < 35), ("35–50 HU", lambda v: 35 <= v < 50),
                       ("50–60 HU", lambda v: v >= 50)], "contrast")  # fmt: skip
    table("touching", [(s, lambda v, s=s: v == s) for s in ("none", "vessel", "edge", "both")],
          "what the lesion touches")  # fmt: skip
    fails = [r for r in rows if _failed(r)]
    ok = [r for r in rows if not _failed(r)]
    flagged = sum(r["confidence"] < 0.5 for r in fails)
    false_alarm = sum(r["confidence"] < 0.5 for r in ok)
    print(f"\n### Failures (axis off by > 2.5 mm or volume by > 25 %): {len(fails)} of {len(rows)}")
    print(f"flagged (confidence < 0.5): {flagged} of {len(fails)}; "
          f"correct proposals flagged anyway: {false_alarm} of {len(ok)}\n")  # fmt: skip
    # how far off: just beyond the tolerance, or clearly wrong
    print("| how far off | failures | flagged (confidence < 0.5) | confident |")
    print("|---|---|---|---|")
    tiers = {}
    for key, name, sel in (
        ("beyond", f"2.5–{GROSS_MM:g} mm or 25–{100 * GROSS_VOL:.0f} %",
         [r for r in fails if not _gross(r)]),
        ("gross", f"> {GROSS_MM:g} mm or > {100 * GROSS_VOL:.0f} %",
         [r for r in fails if _gross(r)]),
        ("recist", "in what RECIST 1.1 counts (the long axis; a node's short axis; the volume)",
         [r for r in rows if _failed_recist(r)]),
    ):  # fmt: skip
        n_flag = sum(r["confidence"] < 0.5 for r in sel)
        print(f"| {name} | {len(sel)} | {n_flag} | {len(sel) - n_flag} |")
        tiers[key] = dict(n=len(sel), flagged=n_flag)
    confident = [r for r in rows if r["confidence"] >= 0.5]
    within = sum(not _failed(r) for r in confident)
    print(f"\nconfident proposals within the tolerance: {within} of {len(confident)} "
          f"({100 * within / max(len(confident), 1):.1f} %)")  # fmt: skip
    # the truth's own slice tie: failures that measure another slice the truth rates
    # within TIE_KEY_MM of its own (the axes within the tolerance of that slice's)
    tied = [r for r in fails if r["truth_tie"] and abs(r["e_vol"]) <= TOL_VOL]
    n_conf = sum(r["confidence"] >= 0.5 for r in tied)
    print(f"failures within the tolerance of the truth on a slice it rates as high as "
          f"its own (within the slice-tie margin; the truth's own coin toss): {len(tied)}, "
          f"{n_conf} of them confident; confident failures beside those: "
          f"{sum(r['confidence'] >= 0.5 for r in fails) - n_conf}\n")  # fmt: skip
    out.update(truth_tie=len(tied), truth_tie_confident=n_conf)
    out.update(tiers=tiers, confident_within=within, confident=len(confident))
    print("| seed | lesion | long err | short err | volume err | confidence | reason |")
    print("|---|---|---|---|---|---|---|")
    for r in sorted(fails, key=lambda r: r["confidence"], reverse=True):
        print(f"| {r['seed']} | {r['description']} | {r['e_long']:+.1f} | {r['e_short']:+.1f} | "
              f"{100 * r['e_vol']:+.0f} % | {r['confidence']:.2f} | "
              f"{r['reason'][:90]} |")  # fmt: skip
    out.update(failures=len(fails), flagged=flagged, false_alarms=false_alarm, n=len(rows))
    return out


#: A failure: an axis off by more than ``TOL_MM`` or the volume by more than ``TOL_VOL``.
TOL_MM = 2.5
TOL_VOL = 0.25


def _errors(p, truth) -> dict[str, float]:
    """A proposal's errors against the truth: long and short axis (mm), volume
    (fraction)."""
    return dict(
        e_long=p.long_axis_mm - truth.axes.long_mm,
        e_short=p.short_axis_mm - truth.axes.short_mm,
        e_vol=p.volume_ml / truth.volume_ml - 1,
    )


def _failed(r) -> bool:
    axis = max(abs(r["e_long"]), abs(r["e_short"]))
    return axis > TOL_MM or abs(r["e_vol"]) > TOL_VOL


#: A failure is *gross* beyond these (an axis off by more than 4 mm, or the volume by
#: more than 40 %): clearly wrong, not just beyond the tolerance.
GROSS_MM = 4.0
GROSS_VOL = 0.40


def _failed_recist(r) -> bool:
    """A failure in what the response criteria use: the long axis of a non-nodal
    lesion or the short axis of a node (RECIST 1.1, iRECIST, Choi, growth rate),
    beyond 2.5 mm, or the volume beyond 25 %."""
    axis = r["e_short"] if r.get("nodal") else r["e_long"]
    return abs(axis) > TOL_MM or abs(r["e_vol"]) > TOL_VOL


def _truth_tie(p, truth) -> bool:
    """Whether the proposal's axes lie within ``TOL_MM`` of the truth on *another*
    slice whose key axis (the long axis; a node's short axis) is within
    ``TIE_KEY_MM`` of the truth's measured slice's (``propose``'s slice-tie margin).
    The truth then measures two slices equally well: which one it reports is a
    coin toss, and a proposal that measures the other one is not wrong."""
    from recist_tool.measure.propose import TIE_KEY_MM

    nodal = truth.lesion.nodal
    per = truth.axes.per_slice
    if not per:
        return False
    key = {k: (s if nodal else lo) for k, (lo, s) in per.items()}
    top = max(key.values())
    return any(
        k != truth.axes.slice_index
        and key[k] >= top - TIE_KEY_MM
        and abs(p.long_axis_mm - lo) <= TOL_MM
        and abs(p.short_axis_mm - s) <= TOL_MM
        for k, (lo, s) in per.items()
    )


def _gross(r) -> bool:
    axis = max(abs(r["e_long"]), abs(r["e_short"]))
    return axis > GROSS_MM or abs(r["e_vol"]) > GROSS_VOL


def off_centre_points(p, spacing) -> list[tuple[int, int, int]]:
    """Four clicks inside a proposal's outline on its measured slice: per quadrant
    around the outline's centroid, the point farthest from it among those at least 40 %
    of the outline's largest depth in from its edge."""
    from scipy import ndimage as ndi

    k = p.slice_index - p.mask_offset[0]
    sl = p.mask_crop[k]
    depth = ndi.distance_transform_edt(sl, sampling=spacing[1:])
    if depth.max() <= 0:
        return []
    yy, xx = np.nonzero(sl)
    cy, cx = yy.mean(), xx.mean()
    oy, ox = np.nonzero(depth >= 0.4 * depth.max())
    out = []
    for qy in (-1, 1):
        for qx in (-1, 1):
            sel = ((oy - cy) * qy >= 0) & ((ox - cx) * qx >= 0)
            if sel.any():
                far = np.hypot((oy[sel] - cy) * spacing[1], (ox[sel] - cx) * spacing[2])
                j = int(np.argmax(far))
                y, x = int(oy[sel][j] + p.mask_offset[1]), int(ox[sel][j] + p.mask_offset[2])
                out.append((p.slice_index, y, x))
    return out


def off_slice_points(p) -> list[tuple[int, int, int]]:
    """Two clicks on other slices of a proposal's lesion: the outline's voxel nearest
    its centroid on the slice half-way from the measured slice to the lesion's top,
    and on the one half-way to its bottom."""
    m = p.mask_crop
    zs = np.nonzero(m.any(axis=(1, 2)))[0]
    k = p.slice_index - p.mask_offset[0]
    out = []
    for end in (int(zs.min()), int(zs.max())):
        kz = round(k + 0.5 * (end - k))
        if kz == k or not m[kz].any():
            continue
        yy, xx = np.nonzero(m[kz])
        j = int(np.argmin((yy - yy.mean()) ** 2 + (xx - xx.mean()) ** 2))
        y, x = int(yy[j] + p.mask_offset[1]), int(xx[j] + p.mask_offset[2])
        out.append((kz + p.mask_offset[0], y, x))
    return out


_CLICK_KEYS = ("clicks", "nothing", "other_error", "same", "within", "failed")
_CLICK_KEYS += ("failed_flagged", "gross", "gross_flagged", "snapped")


def _tally(counts: dict, site: list[int], vol, truth, centre, idx, nodal: bool) -> None:
    """Propose at voxel ``idx`` and count the outcome against the truth and against the
    centre click's proposal ``centre``."""
    from recist_tool.measure import MeasureError, propose

    counts["clicks"] += 1
    site[0] += 1
    click = tuple(float(v) for v in vol.index_to_lps(np.asarray(idx, float)))
    try:
        p = propose(vol, click, nodal=nodal)
    except MeasureError:
        counts["nothing"] += 1
        site[1] += 1
        return
    except Exception:  # counted: any other exception is a bug
        counts["other_error"] += 1
        site[1] += 1
        return
    counts["snapped"] += "measured_from_mm" in p.details
    same = abs(p.long_axis_mm - centre.long_axis_mm) <= 0.5 and (
        abs(p.short_axis_mm - centre.short_axis_mm) <= 0.5
    )
    counts["same"] += same
    site[2] += same
    r = _errors(p, truth)
    if not _failed(r):
        counts["within"] += 1
        return
    counts["failed"] += 1
    counts["failed_flagged"] += p.low_confidence
    if _gross(r):
        counts["gross"] += 1
        counts["gross_flagged"] += p.low_confidence


def _report_clicks(title: str, c: dict, by_site: dict) -> None:
    m = max(c["clicks"], 1)
    print(f"\n## {title}: {c['clicks']} clicks inside {c['lesions']} lesions")
    print("| what | clicks | share |\n|---|---|---|")
    for label, v in (
        ("a proposal", c["clicks"] - c["nothing"] - c["other_error"]),
        ("… from a point near the click (it lay in the blur of the edge)", c["snapped"]),
        ("the same proposal as the seed's (both axes within 0.5 mm)", c["same"]),
        (f"within the tolerance (axes {TOL_MM} mm, volume {TOL_VOL:.0%})", c["within"]),
        ("failures (beyond the tolerance)", c["failed"]),
        ("… flagged low-confidence", c["failed_flagged"]),
        ("gross failures (> 4 mm or > 40 %)", c["gross"]),
        ("… flagged low-confidence", c["gross_flagged"]),
        ("no lesion found", c["nothing"]),
        ("any other exception (a bug)", c["other_error"]),
    ):
        print(f"| {label} | {v} | {100 * v / m:.1f} % |")
    print("\n| site | clicks | no proposal | same as the seed's |\n|---|---|---|---|")
    for name, (k, bad, same) in sorted(by_site.items()):
        print(f"| {name} | {k} | {bad} | {same} ({100 * same / max(k, 1):.0f} %) |")


def off_centre(n: int, start: int) -> dict:
    """Each lesion clicked at its seed, at :func:`off_centre_points` (the same slice)
    and at :func:`off_slice_points` (other slices)."""
    from recist_tool.measure import MeasureError, propose
    from recist_tool.synth.lesions import random_scene

    groups = {g: dict.fromkeys((*_CLICK_KEYS, "lesions"), 0) for g in ("centre", "slice")}
    sites: dict[str, dict[str, list[int]]] = {"centre": {}, "slice": {}}
    lesions = seed_within = 0
    for seed in range(start, start + n):
        vol, truth = random_scene(seed)
        nodal = truth.lesion.nodal
        try:
            centre = propose(vol, truth.seed_lps, nodal=nodal)
        except MeasureError:
            continue
        lesions += 1
        seed_within += not _failed(_errors(centre, truth))
        spacing = np.asarray(vol.spacing_zyx, float)
        for group, points in (
            ("centre", off_centre_points(centre, spacing)),
            ("slice", off_slice_points(centre)),
        ):
            groups[group]["lesions"] += 1
            site = sites[group].setdefault(truth.extra["site"], [0, 0, 0])
            for idx in points:
                _tally(groups[group], site, vol, truth, centre, idx, nodal)
        if (seed - start + 1) % 20 == 0:
            print(f"  {seed - start + 1}/{n} lesions", file=sys.stderr, flush=True)
    _report_clicks("Off-centre clicks (the measured slice)", groups["centre"], sites["centre"])
    share = 100 * seed_within / max(lesions, 1)
    print(
        f"\nThe seeds' own proposals (bench_assist's usual click): {seed_within} of "
        f"{lesions} within the tolerance ({share:.1f} %)."
    )
    _report_clicks(
        "Clicks on other slices (half-way to the lesion's top and bottom)",
        groups["slice"],
        sites["slice"],
    )
    other_slices = dict(groups["slice"], by_site=sites["slice"])
    return dict(
        groups["centre"],
        by_site=sites["centre"],
        seed_within=seed_within,
        other_slices=other_slices,
    )


# ------------------------------------------------------------------------ big series


def big_pair(slices: int):
    """Baseline and follow-up 512 × 512 × slices (0.78 mm pixels, 1 mm slices), cached."""
    from recist_tool.synth.lesions import followup_pair

    DATA.mkdir(parents=True, exist_ok=True)
    f = DATA / f"assist_pair_{slices}.npz"
    shape, spacing = (slices, 512, 512), (1.0, 400 / 512, 400 / 512)
    if not f.exists():
        t0 = time.perf_counter()
        print(f"generating the 512 × 512 × {slices} pair …", file=sys.stderr, flush=True)
        b, fu, truth = followup_pair(shape, spacing)
        np.savez(f, base=b.array, fu=fu.array)
        print(f"  {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    data = np.load(f)
    _, _, truth = followup_pair((2, 8, 8), spacing)  # the same lesions and transform
    from recist_tool.synth.lesions import body_geometry

    def vol(arr, uid):
        g = body_geometry(shape, spacing, series_uid=uid)
        g.array = arr
        return g

    return vol(data["base"], "2.25.1001"), vol(data["fu"], "2.25.1002"), truth


def clicks(base, truth, repeat: int) -> dict:
    from recist_tool.measure import propose

    times, peer = [], []
    sizes, outer = [], []
    for c, les in zip(truth.centers_baseline, truth.baseline_lesions, strict=True):
        for _ in range(repeat):
            t0 = time.perf_counter()
            p = propose(base, c, nodal=les.nodal)
            times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            peer_threshold(base, c)
            peer.append(time.perf_counter() - t0)
        sizes.append((les.lesion_id, round(p.long_axis_mm, 1), p.confidence))
        outer.append((les, off_centre_points(p, np.asarray(base.spacing_zyx, float))))
    # the same lesions clicked in their outer part
    off = []
    for les, points in outer:
        for idx in points:
            click = tuple(float(v) for v in base.index_to_lps(np.asarray(idx, float)))
            for _ in range(repeat):
                t0 = time.perf_counter()
                propose(base, click, nodal=les.nodal)
                off.append(time.perf_counter() - t0)
    print(f"\n## Click → proposal on a 512 × 512 × {base.shape[0]} series "
          f"({len(truth.centers_baseline)} lesions × {repeat})\n")  # fmt: skip
    print(f"propose: median {1000 * statistics.median(times):.0f} ms, "
          f"max {1000 * max(times):.0f} ms; threshold peer median "
          f"{1000 * statistics.median(peer):.0f} ms; ratio of medians "
          f"{statistics.median(times) / statistics.median(peer):.1f}")  # fmt: skip
    print("lesions (id, long axis mm, confidence):", sizes)
    print(f"clicked in their outer part ({sum(len(q) for _, q in outer)} clicks × {repeat}): "
          f"median "
          f"{1000 * statistics.median(off):.0f} ms, max {1000 * max(off):.0f} ms; "
          f"ratio to the centre clicks "
          f"{statistics.median(off) / statistics.median(times):.2f}")  # fmt: skip
    return dict(median_ms=1000 * statistics.median(times), max_ms=1000 * max(times),
                peer_median_ms=1000 * statistics.median(peer),
                outer_median_ms=1000 * statistics.median(off),
                outer_max_ms=1000 * max(off))  # fmt: skip


#: Checks of ``propose`` whose cost can be measured alone (``--check-cost``): the
#: private function in ``recist_tool.measure.propose`` and what it is.
CHECKS = {
    "crosscheck": ("_crosscheck", "Cross-check (second outline)"),
    "stability": ("_threshold_stability", "Threshold-stability checks"),
}


def _no_check(seg, k, axes) -> tuple[dict, list]:
    """A check of :data:`CHECKS` that finds nothing (its cost left out)."""
    return {}, []


def crosscheck_cost(base, truth, repeat: int, check: str = "crosscheck") -> dict:
    """``propose()`` with and without one of its checks (the cross-check's second
    outline, or the threshold-stability checks), alternating on the same clicks: the
    cost the check adds."""
    import importlib

    prop = importlib.import_module("recist_tool.measure.propose")
    name, label = CHECKS[check]
    real = getattr(prop, name)
    on, off = [], []
    try:
        for c, les in zip(truth.centers_baseline, truth.baseline_lesions, strict=True):
            for _ in range(repeat):
                for use, out in ((False, off), (True, on)):
                    setattr(prop, name, real if use else _no_check)
                    t0 = time.perf_counter()
                    prop.propose(base, c, nodal=les.nodal)
                    out.append(time.perf_counter() - t0)
    finally:
        setattr(prop, name, real)
    added = [a - b for a, b in zip(on, off, strict=True)]
    med = statistics.median
    print(
        f"\n## {label}: cost on a 512 × 512 × {base.shape[0]} series "
        f"({len(truth.centers_baseline)} lesions × {repeat}, load {os.getloadavg()[0]:.1f})\n"
    )
    print(f"propose without the check: median {1000 * med(off):.0f} ms; with it: "
          f"{1000 * med(on):.0f} ms; added median {1000 * med(added):.0f} ms, max "
          f"{1000 * max(added):.0f} ms (ratio {med(on) / med(off):.2f})")  # fmt: skip
    return dict(off_ms=1000 * med(off), on_ms=1000 * med(on), added_ms=1000 * med(added))


def registration(base, fu, truth, repeat: int) -> dict:
    from recist_tool.register import register

    times = []
    reg = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        reg = register(base, fu)
        times.append(time.perf_counter() - t0)
    assert reg is not None
    tre = np.linalg.norm(reg.to_moving(truth.centers_baseline) - truth.centers_followup, axis=1)
    none = np.linalg.norm(truth.centers_baseline - truth.centers_followup, axis=1)
    local, lt = [], []
    for c, q in zip(truth.centers_baseline, truth.centers_followup, strict=True):
        t0 = time.perf_counter()
        r = reg.refine(base, fu, c)
        lt.append(time.perf_counter() - t0)
        local.append(float(np.linalg.norm(r.to_moving(c) - q)))
    print(f"\n## Registration 512 × 512 × {base.shape[0]} pair\n")
    print(
        f"time: {', '.join(f'{t:.1f}' for t in times)} s (median {statistics.median(times):.1f} s)"
    )
    print(f"TRE at lesion centres: global median {np.median(tre):.2f} mm (max {tre.max():.2f}); "
          f"with local refinement median {np.median(local):.2f} mm (max {max(local):.2f}; "
          f"{statistics.median(lt):.1f} s each); no registration (same position) median "
          f"{np.median(none):.1f} mm")  # fmt: skip
    print("per lesion global / local (mm):",
          [(round(a, 2), round(b, 2))
           for a, b in zip(tre.tolist(), local, strict=True)])  # fmt: skip
    return dict(seconds=times, tre_global=tre.tolist(), tre_local=local, tre_none=none.tolist())


def plugin_clicks(base, truth, repeat: int) -> dict:
    """Click → proposal shown in the plugin (napari layers of a bare ``ViewerModel``:
    seed from the click, the core's ``propose``, the proposal and outline layers drawn,
    the slice moved), against ``propose`` alone in the same run."""
    from napari.components import ViewerModel
    from napari_recist._layers import image_layer_data
    from napari_recist._session import ReadingSession

    from recist_tool.measure import propose

    base.metadata.update(patient_id="BENCH-12", study_date="20240110", modality="CT")
    base.sop_instance_uids = tuple(f"2.25.1001.{i + 1}" for i in range(base.shape[0]))
    s = ReadingSession(ViewerModel(), readings_dir=tempfile.mkdtemp(), reader="bench")
    s.open_layers([image_layer_data(base)])
    a, pane = s.assist, s.panes["current"]
    shown, core = [], []
    for c, les in zip(truth.centers_baseline, truth.baseline_lesions, strict=True):
        for _ in range(repeat):
            s.form["nodal"] = les.nodal
            a.click(pane, np.asarray(c, float)[::-1])
            assert a.has_pending, a.status
            shown.append(a.last_shown_s)
            a.reject()
            t0 = time.perf_counter()
            propose(base, c, nodal=les.nodal)
            core.append(time.perf_counter() - t0)
    s.close()
    med, peer = statistics.median(shown), statistics.median(core)
    print(f"\n## Plugin: click → proposal shown on a 512 × 512 × {base.shape[0]} series\n")
    print(f"click → shown: median {1000 * med:.0f} ms, max {1000 * max(shown):.0f} ms; "
          f"propose alone (peer) median {1000 * peer:.0f} ms; ratio {med / peer:.2f}; "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    return dict(median_ms=1000 * med, max_ms=1000 * max(shown), peer_median_ms=1000 * peer)


def window_clicks(repeat: int, screenshot: Path | None = None, outer: bool = False) -> dict:
    """Click → proposal drawn, as a reader sees it: a shown napari window with the
    reading widget, the 512 × 512 × 300 DICOM series of ``bench_plugin.series_folder``
    opened through the widget, a real Alt+click (QTest on napari's canvas) on each
    lesion, timed until the canvas has drawn after the proposal's lines were set (the
    worker thread, the layers, the slice move, the redraw). Peer in the same run:
    ``propose()`` alone on the same volume and seed. ``outer``: each lesion also
    clicked in its outer part (the first of :func:`off_centre_points`), against
    the same run's centre clicks. Needs a display (``xvfb-run``)."""
    import napari
    from bench_plugin import series_folder
    from napari_recist._qt.widget import RecistWidget
    from qtpy.QtCore import QEventLoop, QPoint, Qt, QTimer
    from qtpy.QtTest import QTest
    from qtpy.QtWidgets import QApplication

    from recist_tool.measure import propose
    from recist_tool.synth.phantom import baseline_lesions

    folder = series_folder()
    tmp = tempfile.mkdtemp()
    os.environ.setdefault("RECIST_READER", "bench")
    os.environ["RECIST_READINGS_DIR"] = tmp
    os.environ["RECIST_REGISTRATION"] = "off"
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1600, 1000)
    w = RecistWidget(viewer, readings_dir=tmp)
    viewer.window.add_dock_widget(w, area="right")
    app = QApplication.instance()

    def pump(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.002)

    w.open_folder(folder)
    pump(0.5)
    s, a = w.session, w.session.assist
    pane = s.panes["current"]
    vol = a.volume(pane.layers.source)
    assert vol.shape == SHAPE_BIG, vol.shape
    canvas = w.main_canvas()
    # the end of each draw of the canvas (vispy calls "last" callbacks after the scene
    # was drawn; bench_plugin's _canvas_draws connects first: the start of a draw)
    draws: list[float] = []
    scene_canvas = viewer.window._qt_viewer.canvas._scene_canvas  # benchmark only
    shown_at: list[float] = []
    a.changed.connect(
        lambda: shown_at.append(time.perf_counter()) if a.has_pending and not shown_at else None
    )
    # wait in a real event loop, quit at the first canvas draw after the proposal
    loop = QEventLoop()
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)

    def drawn(_event) -> None:
        draws.append(time.perf_counter())
        if shown_at and draws[-1] > shown_at[0]:
            loop.quit()

    scene_canvas.events.draw.connect(drawn, position="last")
    rows, during = [], []
    lesions = [les for les in baseline_lesions() if les.kind == "target"]
    where = {(les.lesion_id, "centre"): les.center_lps for les in lesions}
    for les in lesions if outer else []:
        c0 = propose(vol, les.center_lps, nodal=les.nodal)
        idx = off_centre_points(c0, np.asarray(vol.spacing_zyx, float))[0]
        where[les.lesion_id, "outer"] = tuple(vol.index_to_lps(np.asarray(idx, float)))
    kinds = ("centre", "outer") if outer else ("centre",)
    # the first click also makes the proposal layers: timed apart, not in the median
    clicks = [(lesions[0], -1, "centre")] + [
        (le, r, kind) for kind in kinds for le in lesions for r in range(repeat)
    ]
    first = float("nan")
    by_kind: dict[str, list[float]] = {kind: [] for kind in kinds}
    core: dict[str, list[float]] = {kind: [] for kind in kinds}  # propose() alone
    for les, rep, kind in clicks:
        at = where[les.lesion_id, kind]
        s.form["nodal"] = les.nodal
        s.nav.set_z(pane, float(at[2]))
        pump(0.3)
        cam = viewer.scene.camera
        h, wd = canvas.height(), canvas.width()
        cy, cx = cam.center[-2:]
        px = QPoint(
            round((at[0] - cx) * cam.zoom + wd / 2),
            round((at[1] - cy) * cam.zoom + h / 2),
        )
        QTest.mouseMove(canvas, px)
        pump(0.2)
        draws.clear()
        shown_at.clear()
        timer.start(30_000)
        t0 = time.perf_counter()
        QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, px)
        loop.exec()  # Qt's own event loop (idle without the GIL), as in the app
        timer.stop()
        assert a.has_pending, a.status
        took = min(t for t in draws if t > shown_at[0]) - t0
        p = a.pending.proposal
        if rep < 0:
            first = took
        else:
            by_kind[kind].append(took)
            during.append(sum(t < shown_at[0] for t in draws))
        if rep == 0 and kind == "centre":
            rows.append((les.lesion_id, round(p.long_axis_mm, 1), round(p.short_axis_mm, 1),
                         p.confidence))  # fmt: skip
            if screenshot is not None and les is lesions[0]:
                viewer.screenshot(str(screenshot), canvas_only=False)
        seed = p.seed_lps
        a.reject()
        pump(0.1)
        if rep < 0:
            continue
        t0 = time.perf_counter()
        propose(vol, seed, nodal=les.nodal)
        core[kind].append(time.perf_counter() - t0)
    load = os.getloadavg()[0]
    viewer.close()
    shown = by_kind["centre"]
    med, peer = statistics.median(shown), statistics.median(core["centre"])
    print(f"\n## napari window: Alt+click → proposal drawn on a 512 × 512 × "
          f"{SHAPE_BIG[0]} series ({len(lesions)} lesions × {repeat})\n")  # fmt: skip
    print(f"click → drawn: median {1000 * med:.0f} ms, max {1000 * max(shown):.0f} ms; "
          f"propose alone (peer) median {1000 * peer:.0f} ms, "
          f"max {1000 * max(core['centre']):.0f} ms; "
          f"ratio {med / peer:.2f}; load {load:.1f}")  # fmt: skip
    print(
        f"first click (also makes the proposal layers): {1000 * first:.0f} ms; canvas "
        f"draws while the proposal was computed: median {statistics.median(during):.0f}"
    )
    print("lesions (id, long, short, confidence):", rows)
    out = dict(median_ms=1000 * med, max_ms=1000 * max(shown), peer_median_ms=1000 * peer,
               load=load, all_ms=[1000 * t for t in shown], first_ms=1000 * first)  # fmt: skip
    if outer:
        far, far_core = by_kind["outer"], core["outer"]
        print(f"clicked in their outer part: click → drawn median "
              f"{1000 * statistics.median(far):.0f} ms, max {1000 * max(far):.0f} ms; "
              f"propose alone {1000 * statistics.median(far_core):.0f} ms; against the "
              f"centre clicks {statistics.median(far) / med:.2f}×")  # fmt: skip
        out.update(outer_median_ms=1000 * statistics.median(far), outer_max_ms=1000 * max(far))
    return out


#: The window benchmark's series (bench_plugin.SHAPE).
SHAPE_BIG = (300, 512, 512)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lesions", type=int, default=240)
    ap.add_argument("--start", type=int, default=0, help="first scene seed")
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument(
        "--slice-mm",
        type=float,
        default=None,
        help="accuracy on this slice spacing (e.g. 5) instead of 1–2.5 mm",
    )
    ap.add_argument(
        "--pixel-mm",
        type=float,
        default=None,
        help="accuracy on this in-plane pixel size (e.g. 3) instead of 0.65–0.85 mm",
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-big", action="store_true", help="skip the 512 × 512 series parts")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    ap.add_argument(
        "--plugin-only", action="store_true", help="only the plugin's click → proposal shown"
    )
    ap.add_argument(
        "--window",
        action="store_true",
        help="only Alt+click → proposal drawn in a napari window (needs xvfb-run)",
    )
    ap.add_argument("--screenshot", type=Path, help="with --window: a PNG of the first proposal")
    ap.add_argument(
        "--outer", action="store_true", help="with --window: also click lesions in their outer part"
    )
    ap.add_argument(
        "--off-centre",
        action="store_true",
        help="only: each lesion clicked at four more points inside it, not at its centre",
    )
    ap.add_argument(
        "--crosscheck-cost",
        action="store_true",
        help="only propose() with and without its cross-check on the 512 × 512 series",
    )
    ap.add_argument(
        "--stability-cost",
        action="store_true",
        help="only propose() with and without its threshold-stability checks (same)",
    )
    args = ap.parse_args()
    import recist_tool

    print(f"# bench_assist (recist-tool {recist_tool.__version__})")
    result: dict = {}
    if args.window:
        result["window_clicks"] = window_clicks(args.repeat, args.screenshot, args.outer)
        if args.json:
            args.json.write_text(json.dumps(result, indent=1, default=float))
        return
    if args.off_centre:
        result["off_centre"] = off_centre(args.lesions, args.start)
        if args.json:
            args.json.write_text(json.dumps(result, indent=1, default=float))
        return
    if args.crosscheck_cost or args.stability_cost:
        base, _, truth = big_pair(args.slices)
        for check in CHECKS:
            if getattr(args, f"{check}_cost"):
                result[f"{check}_cost"] = crosscheck_cost(base, truth, args.repeat, check)
        if args.json:
            args.json.write_text(json.dumps(result, indent=1, default=float))
        return
    if args.plugin_only:
        base, _, truth = big_pair(args.slices)
        result["plugin_clicks"] = plugin_clicks(base, truth, args.repeat)
        return
    if args.lesions:
        rows = accuracy(args.lesions, args.start, args.slice_mm, args.pixel_mm)
        result["accuracy"] = report_accuracy(rows)
        result["rows"] = rows
    if not args.no_big:
        base, fu, truth = big_pair(args.slices)
        result["clicks"] = clicks(base, truth, args.repeat)
        result["plugin_clicks"] = plugin_clicks(base, truth, args.repeat)
        result["registration"] = registration(base, fu, truth, 2)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
