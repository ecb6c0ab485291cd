"""One click → RECIST axes, on phantoms with known truth (not ellipsoids)."""

from __future__ import annotations

import numpy as np
import pytest

from recist_tool.dicom.volume import Volume
from recist_tool.measure import LOW_CONFIDENCE, MeasureError, propose
from recist_tool.synth.lesions import Tube, lesion_scene, make_lesion, random_scene

# (site, size mm, contrast HU, noise HU, touching, spacing, seed): irregular lesions at
# realistic noise and contrast, touching a vessel or an organ edge, on all paths
# (thick and thin slices, the coarse grid of large lesions).
SCENES = {
    "liver at the capsule": ("liver", 25, 30, 15, "edge", (2.0, 0.75, 0.75), 102),
    "liver 50 mm": ("liver", 50, 40, 12, "none", (2.5, 0.75, 0.75), 100),
    "node at a muscle": ("lymph_node", 22, 30, 15, "edge", (2.5, 0.8, 0.8), 101),
    "node on a vessel": ("lymph_node", 16, 25, 18, "vessel", (2.0, 0.75, 0.75), 100),
    "node on a vessel 2": ("lymph_node", 16, 25, 18, "vessel", (2.0, 0.75, 0.75), 101),
}


def scene(name):
    site, size, contrast, noise, touching, spacing, seed = SCENES[name]
    return random_scene(
        seed,
        site=site,
        long_mm=size,
        contrast_hu=contrast,
        noise_hu=noise,
        spacing_zyx=spacing,
        touching=touching,
    )


@pytest.mark.parametrize("name", sorted(SCENES))
def test_axes_volume_and_mean_against_truth(name):
    vol, truth = scene(name)
    p = propose(vol, truth.seed_lps, nodal=truth.lesion.nodal)
    # the capsule scene is the noisiest edge (contrast 30 HU for 15 HU noise): its
    # outline's noise bumps cost up to ~1.7 mm on one slice (volume exact)
    tol = 2.0 if name == "liver at the capsule" else 1.5
    assert abs(p.long_axis_mm - truth.axes.long_mm) <= tol
    assert abs(p.short_axis_mm - truth.axes.short_mm) <= tol
    assert abs(p.volume_ml / truth.volume_ml - 1) <= 0.12
    assert abs(p.mean_hu - truth.lesion.hu) <= 5.0
    assert p.confidence >= LOW_CONFIDENCE and not p.low_confidence


def test_geometry_of_a_proposal():
    vol, truth = scene("liver 50 mm")
    p = propose(vol, truth.seed_lps)
    # end points lie on the measured slice's plane, at the stated distance
    for line, length in ((p.long_axis_lps, p.long_axis_mm), (p.short_axis_lps, p.short_axis_mm)):
        idx = vol.lps_to_index(np.array(line))
        assert np.allclose(idx[:, 0], p.slice_index, atol=1e-9)
        assert np.linalg.norm(np.subtract(*line)) == pytest.approx(length)
    u = np.subtract(*p.long_axis_lps)
    v = np.subtract(*p.short_axis_lps)
    assert abs(u @ v) / (np.linalg.norm(u) * np.linalg.norm(v)) < 1e-6
    # the mask is the volume's shape and gives the volume; the outline is on the slice
    assert p.mask.shape == vol.shape and p.mask.dtype == bool
    assert p.mask.sum() * np.prod(vol.spacing_zyx) / 1000 == pytest.approx(p.mask_volume_ml)
    assert p.volume_ml == pytest.approx(p.mask_volume_ml, rel=0.05)  # thin slices: small caps
    assert all(np.allclose(o[:, 0], p.slice_index) for o in p.outline_zyx)
    # the long axis is the largest over the lesion's slices
    longs = [v[0] for v in p.details["per_slice"].values()]
    assert p.long_axis_mm == pytest.approx(max(longs))


def test_node_is_measured_on_the_slice_of_its_largest_short_axis():
    vol, truth = scene("node at a muscle")
    p = propose(vol, truth.seed_lps, nodal=True)
    shorts = {k: v[1] for k, v in p.details["per_slice"].items()}
    assert p.slice_index == max(shorts, key=shorts.get)
    assert p.short_axis_mm == pytest.approx(shorts[p.slice_index])


def test_axis_hint_fixes_the_slice_and_a_wrong_hint_lowers_confidence():
    vol, truth = scene("liver 50 mm")
    k = truth.axes.slice_index - 2
    a, b = (np.array(pt) for pt in truth.axes.long_axis_lps)
    shift = np.array([0, 0, vol.index_to_lps((k, 0, 0))[2] - a[2]])
    p = propose(vol, truth.seed_lps + shift, axis_hint=[a + shift, b + shift])
    assert p.slice_index == k
    mid = (a + b) / 2 + shift
    bad = propose(vol, truth.seed_lps + shift, axis_hint=[mid - 5, mid + 5])  # a 17 mm line
    assert bad.confidence < p.confidence and "differs from the line drawn" in bad.reason


def test_a_lesion_merging_with_a_vessel_of_its_density_is_flagged():
    """Failure case: a liver lesion against a vessel of the same HU (nothing to tell
    them apart): the outline runs along the vessel and the confidence is low."""
    rng = np.random.default_rng(3)
    lesion = make_lesion(rng, "liver", 24.0, (0.0, 0.0, 0.0), hu=120.0)
    vessel = Tube((13.0, 0.0, 0.0), (0.2, 1.0, 0.1), 4.0, 120.0)
    vol, truth = lesion_scene(
        lesion, background_hu=70.0, structures=[vessel], spacing_zyx=(2.0, 0.8, 0.8),
        noise_hu=12.0, seed=3, margin_mm=30.0,
    )  # fmt: skip
    p = propose(vol, truth.seed_lps)
    assert p.long_axis_mm > truth.axes.long_mm + 5  # it did leak …
    assert p.confidence < LOW_CONFIDENCE and p.reason  # … and says so


def test_a_click_in_lung_parenchyma_is_not_a_confident_lesion():
    vol, _truth = scene("liver 50 mm")
    lung = Volume(np.full((20, 60, 60), -850, np.int16), (2.0, 0.8, 0.8), (0, 0, 0), vol.direction)
    lung.array[:] += np.random.default_rng(0).normal(0, 15, lung.shape).astype(np.int16)
    try:
        p = propose(lung, lung.index_to_lps((10, 30, 30)))
    except MeasureError:
        return
    assert p.confidence < LOW_CONFIDENCE


def test_bad_seeds_are_clear_errors():
    vol, truth = scene("node at a muscle")
    with pytest.raises(MeasureError, match="outside the series"):
        propose(vol, (1e4, 0, 0))
    with pytest.raises(MeasureError, match="three LPS coordinates"):
        propose(vol, (1.0, 2.0))
    with pytest.raises(MeasureError, match="axis_hint"):
        propose(vol, truth.seed_lps, axis_hint=[(0, 0, 0)])
    # a line far from the click was used silently; one point at 1e300 raised
    # OverflowError (numpy's "Python int too large to convert to C long")
    c = np.asarray(truth.seed_lps, float)
    with pytest.raises(MeasureError, match="centred 866 mm from the seed"):
        propose(vol, truth.seed_lps, axis_hint=[c + 495, c + 505])
    with pytest.raises(MeasureError, match="centred inf mm from the seed"):
        propose(vol, truth.seed_lps, axis_hint=[c + 1e300, c + 1e300 + 10])
    for far in ([c, c + 1e300], [c - 1e300, c + 1e300]):
        with pytest.raises(MeasureError, match="too far apart"):
            propose(vol, truth.seed_lps, axis_hint=far)


def test_failures_in_a_random_batch_have_low_confidence():
    """12 random irregular lesions (sites, sizes 10–80 mm, contrast 20–60 HU, noise
    10–20 HU, touching vessels and edges): every proposal off by more than 2.5 mm or
    with its volume off by more than 25 % says so (confidence below 0.5); the
    confident ones are accurate (median ≤ 1 mm)."""
    confident = []
    for seed in range(12):
        vol, truth = random_scene(1000 + seed)
        p = propose(vol, truth.seed_lps, nodal=truth.lesion.nodal)
        el = abs(p.long_axis_mm - truth.axes.long_mm)
        e = max(el, abs(p.short_axis_mm - truth.axes.short_mm))
        ev = abs(p.volume_ml / truth.volume_ml - 1)
        if e > 2.5 or ev > 0.25:
            assert p.low_confidence, (seed, e, ev, p.confidence, truth.description)
        else:
            confident.append(e) if not p.low_confidence else None
    # 4 of 12 stay confident: this batch is hard (leaks, necks, faint edges; 1009, a
    # 64 mm liver lesion 23 HU above liver with errors of 1.8 / 1.2 mm, is doubted
    # by the faint-edge check; 1010, a 12 mm lung nodule 30 % short of its volume, by
    # the check that the outline settled)
    assert len(confident) >= 4
    assert np.median(confident) <= 1.0


def _segmented_volume_error(p, truth):
    """The segmentation's own volume error (``volume_ml`` adds the caps' share)."""
    assert p.mask_volume_ml + p.details["caps_ml"] == pytest.approx(p.volume_ml)
    return p.mask_volume_ml / truth.volume_ml - 1


def _errors(p, truth):
    return (
        p.long_axis_mm - truth.axes.long_mm,
        p.short_axis_mm - truth.axes.short_mm,
        p.volume_ml / truth.volume_ml - 1,
    )


@pytest.mark.parametrize("seed", [70, 16144])
def test_a_small_lesion_whose_edge_holds_by_a_thin_margin_is_flagged(seed):
    """A 12 mm lesion (a node at a muscle; a lung nodule at the chest wall) whose
    outline shrinks by a quarter of its volume or more: slightly looser thresholds let
    the region run far beyond it, so the proposal says it is doubtful and why. (194,
    a 10 mm liver lesion at the fat, was the second case: its looser thresholds ran
    along the sliver of liver at the fat, which the opposite-side junction thresholds
    now keep out; it stays doubtful, as a region that did not settle.)"""
    vol, truth = random_scene(seed)
    p = propose(vol, truth.seed_lps, nodal=truth.lesion.nodal)
    # the segmentation lost a quarter of the volume or more (known truth; the caps'
    # share, added to volume_ml, gives some back)
    assert abs(_segmented_volume_error(p, truth)) > 0.24
    assert p.low_confidence and 0.0 <= p.confidence < LOW_CONFIDENCE
    assert "thin margin" in p.reason
    assert p.details["segmentation"]["loose_growth"] > 8


def test_a_near_tie_of_slices_is_doubtful_but_a_clean_lesion_is_not():
    """A 42 mm liver lesion whose two slices have long axes 0.2 mm apart but short
    axes ~4 mm apart: which slice is "the longest" is within the noise, so the short
    axis is a coin toss between two answers more than the tolerance apart — doubtful,
    with the other slice named; a clean lesion of the same kind (one clear widest
    slice) is confident with no reason."""
    vol, truth = random_scene(106)
    p = propose(vol, truth.seed_lps)
    assert abs(_errors(p, truth)[1]) > 2.5  # the short axis is off (known truth)
    assert p.low_confidence
    assert "nearly the same long axis" in p.reason and "which of the two slices" in p.reason
    vol, truth = scene("liver 50 mm")
    p = propose(vol, truth.seed_lps)
    assert max(abs(e) for e in _errors(p, truth)[:2]) <= 1.5
    assert p.confidence == 1.0 and p.reason == ""


def test_a_second_outline_that_disagrees_makes_the_proposal_doubtful():
    """Cross-check by a second, independent outline (marker watershed on the gradient
    magnitude). A 13 mm lung nodule 20 HU from the chest wall at 19 HU noise whose
    long axis the primary outline under-measures by ~2.8 mm (known truth): the second
    outline finds the edge within 1 mm of the truth, so the proposal is doubtful and
    says by how much the two disagree. A clear lesion: the two outlines agree within
    2.5 mm, no doubt."""
    vol, truth = random_scene(9077)
    p = propose(vol, truth.seed_lps)
    assert _errors(p, truth)[0] < -2.5  # the long axis is under-measured (known truth)
    assert p.low_confidence and "second outline method" in p.reason
    assert "long axis of" in p.reason and "check the edges" in p.reason
    assert abs(p.details["crosscheck"]["long_mm"] - truth.axes.long_mm) < 1.0
    vol, truth = scene("node at a muscle")
    p = propose(vol, truth.seed_lps, nodal=True)
    cross = p.details["crosscheck"]
    assert abs(cross["long_mm"] - p.long_axis_mm) <= 2.5
    assert abs(cross["short_mm"] - p.short_axis_mm) <= 2.5
    assert "second outline" not in p.reason and not p.low_confidence


def test_the_cross_check_fires_on_a_side_over_segmented_by_3_mm():
    """Constructed disagreement: the primary region of a clear node pushed 3.2 mm out
    on one side (as a low-contrast side the threshold misplaces would be). The
    proposal's long axis grows by > 2.5 mm; the watershed outline stays on the real
    edge, so the cross-check names the long axis. Unchanged, it is silent."""
    import dataclasses
    import importlib

    from recist_tool.measure.segment import segment

    prop = importlib.import_module("recist_tool.measure.propose")
    vol, truth = scene("node at a muscle")
    seed = np.rint(vol.lps_to_index(np.asarray(truth.seed_lps))).astype(int)
    seg = segment(np.asarray(vol.array), vol.spacing_zyx, seed)
    k = truth.axes.slice_index - int(seg.offset[0])
    axes, _ = prop._slice_axes(seg, k, True)
    assert prop._crosscheck(seg, k, axes)[1] == []
    wide = dataclasses.replace(seg, region=seg.region | np.roll(seg.region, 4, axis=2))
    axes_w, _ = prop._slice_axes(wide, k, True)
    assert axes_w.long_mm > truth.axes.long_mm + 2.0
    cross, flags = prop._crosscheck(wide, k, axes_w)
    assert len(flags) == 1 and flags[0][0] < LOW_CONFIDENCE
    assert "long axis" in flags[0][1] and "check the edges" in flags[0][1]
    assert abs(cross["long_mm"] - truth.axes.long_mm) < 2.0


def _soft_sphere(diameter_mm, contrast_hu, edge_mm, noise_hu, seed):
    """A sphere in liver (60 HU) whose edge is blurred by a Gaussian of ``edge_mm``
    (an infiltrative margin): the true surface is the half-maximum; white noise."""
    from scipy.special import erfc

    sp = (2.0, 0.75, 0.75)
    half = diameter_mm / 2 + 20.0
    shape = tuple(int(np.ceil(2 * half / s)) | 1 for s in sp)
    zz, yy, xx = np.meshgrid(
        *[(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, sp, strict=True)],
        indexing="ij",
    )
    d = np.sqrt(zz**2 + yy**2 + xx**2) - diameter_mm / 2
    img = 60.0 + contrast_hu * 0.5 * erfc(d / (np.sqrt(2) * edge_mm))
    img += np.random.default_rng(seed).normal(0, noise_hu, shape)
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    vol = Volume(np.rint(img).astype(np.int16), sp, (0.0, 0.0, 0.0), identity)
    centre = vol.index_to_lps(tuple((n - 1) / 2 for n in shape))
    return vol, tuple(float(v) for v in centre), np.pi / 6 * diameter_mm**3 / 1000


def test_a_faint_edge_that_noise_could_move_is_doubtful_a_faint_sharp_one_is_not():
    """Stability on a faint edge. A 30 mm sphere only 20 HU above liver, its edge
    blurred over ~3 mm, noise 12 HU: thresholds moved by 3 × the smoothed noise
    move an axis by > 2 mm (the outline is not pinned by the image; its volume is
    indeed ~20 % off the truth), so the proposal is doubtful and says which axis to
    check and by how much. The same faint contrast with a sharp edge and less noise:
    the check runs, the axes move < 2 mm, the proposal stays confident."""
    vol, c, true_ml = _soft_sphere(30, 20, 3.0, 12, seed=1)
    p = propose(vol, c)
    assert abs(p.volume_ml / true_ml - 1) > 0.15  # doubtful for a reason (known truth)
    assert p.low_confidence
    assert "faint edge" in p.reason and "axis changes by" in p.reason
    assert "check the" in p.reason and "axis ends" in p.reason
    (moved,) = p.details["stability"]["faint_move_mm"].values()
    assert abs(moved) > 2.0
    vol, c, true_ml = _soft_sphere(30, 20, 0.6, 8, seed=0)
    p = propose(vol, c)
    assert abs(p.long_axis_mm - 30) <= 1.5 and abs(p.volume_ml / true_ml - 1) <= 0.05
    assert p.details["stability"]["faint_shift_hu"] > 0  # the check ran ...
    (moved,) = p.details["stability"]["faint_move_mm"].values()
    assert abs(moved) < 2.0  # ... and found the outline pinned
    assert p.confidence == 1.0 and p.reason == ""


def test_a_generated_faint_edge_failure_is_caught():
    """A generated failure (known truth) every other check passed: a 32 mm liver
    lesion 23 HU above liver at 19 HU noise, short axis +3.6 mm."""
    vol, truth = random_scene(343)
    p = propose(vol, truth.seed_lps, nodal=truth.lesion.nodal)
    assert abs(_errors(p, truth)[1]) > 2.5
    assert p.low_confidence and "faint edge" in p.reason and "short axis" in p.reason


def test_one_doubt_alone_makes_a_proposal_doubtful():
    """A 10 mm lung lesion at the chest wall merging with it (known truth: 51 % of its
    volume lost when the bridge is cut): that one doubt alone puts the proposal below
    LOW_CONFIDENCE (a factor of exactly 0.5 left it at 0.50, "not low")."""
    vol, truth = random_scene(263)
    p = propose(vol, truth.seed_lps, nodal=truth.lesion.nodal)
    assert _segmented_volume_error(p, truth) < -0.25
    assert p.reason.startswith("the lesion merges with a touching structure")
    assert ";" not in p.reason  # the only doubt
    assert p.low_confidence and p.confidence < LOW_CONFIDENCE


@pytest.mark.parametrize("where", ["last column", "last row", "last corner"])
def test_a_click_in_the_last_column_or_row_of_a_large_lesion(where):
    """A lesion large enough for the coarse grid (> 40 mm) cut by the series' edge,
    clicked in the series' last column / row: a proposal (flagged: it reaches the
    edge), never an IndexError. The search box there has an odd width; trimmed to
    whole 2 × 2 blocks it used to lose the clicked column."""
    sp = (2.0, 0.75, 0.75)
    shape = (21, 89, 89)
    zz, yy, xx = np.meshgrid(
        *[np.arange(n) * s for n, s in zip(shape, sp, strict=True)], indexing="ij"
    )
    row = 88 if where != "last column" else 44
    col = 88 if where != "last row" else 44
    # a 56 mm sphere centred 10 mm inside the clicked edge(s), on the middle slice
    cy = row * sp[1] - (10.0 if row == 88 else 0.0)
    cx = col * sp[2] - (10.0 if col == 88 else 0.0)
    d = np.sqrt((zz - 10 * sp[0]) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2)
    img = np.where(d <= 28.0, 100.0, 50.0) + np.random.default_rng(3).normal(0, 10, shape)
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    vol = Volume(np.rint(img).astype(np.int16), sp, (0.0, 0.0, 0.0), identity)
    p = propose(vol, vol.index_to_lps((10, row, col)))
    assert p.details["grid_factor"] == 2
    assert p.mask[10, row, col]
    # cut by the series' edge: the outline reaches it and the proposal says so
    assert p.low_confidence and "edge of the series" in p.reason
    assert p.long_axis_mm > 40.0


def test_a_click_in_the_blur_of_a_small_nodule_s_edge_measures_that_nodule():
    """A 15 mm lung nodule clicked 2.3 mm inside its edge: partial volume and noise put
    the voxels there at -41 HU, between the nodule (13 HU) and the lung, and nothing
    grew from them ("no lesion found"). The click now snaps to the nodule's brightest
    point nearby: the same axes as a click at its centre, shown as doubtful with the
    reason."""
    vol, t = random_scene(14053)
    centre = propose(vol, t.seed_lps)
    p = propose(vol, (2.487902258524045, -4.975804517048079, 0.0))
    assert p.long_axis_mm == pytest.approx(centre.long_axis_mm, abs=0.1)
    assert p.short_axis_mm == pytest.approx(centre.short_axis_mm, abs=0.1)
    assert p.reason.startswith("measured from a point 4.8 mm from the click")
    assert p.details["measured_from_mm"] == pytest.approx(4.8, abs=0.05)
    assert p.low_confidence  # not where the reader clicked: the outline is checked
    assert p.seed_lps == (2.487902258524045, -4.975804517048079, 0.0)
    # a click beside it (9 mm outside) is not pulled onto the nodule
    beside = propose(vol, (2.487902258524045, -14.0, 0.0))
    assert "blur" not in beside.reason and beside.low_confidence
    assert abs(beside.long_axis_mm - centre.long_axis_mm) > 10


def test_a_doubtful_proposal_from_an_off_centre_click_is_measured_again_nearby():
    """A 39 mm lung nodule clicked 12 mm from its centre, in the blur of its edge: the
    region grown from the click was a 6 mm sliver (confidence 0.007). Measured again
    from the nodule's brightest point near the click: the nodule, still doubtful."""
    vol, t = random_scene(14008)
    centre = propose(vol, t.seed_lps)
    p = propose(vol, (-10.974030267125897, -7.597405569548698, -2.5))
    assert p.long_axis_mm == pytest.approx(centre.long_axis_mm, abs=0.5)
    assert p.short_axis_mm == pytest.approx(centre.short_axis_mm, abs=0.5)
    assert p.reason.startswith("measured from a point") and p.low_confidence


def test_a_doubtful_proposal_is_not_measured_again_from_inside_its_own_region(monkeypatch):
    """The points tried near the click are skipped when they lie inside the region the
    click grew (the same region again, at three times the cost: 44 → 125 ms on a
    doubtful lesion of the 512 × 512 series)."""
    import sys

    prop = sys.modules["recist_tool.measure.propose"]  # the module, not the function
    vol, t = random_scene(14014)  # a lung nodule, doubtful when clicked at its centre
    calls = []
    real = prop.segment

    def counted(*args, **kwargs):
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(prop, "segment", counted)
    p = propose(vol, t.seed_lps)
    assert p.low_confidence and not p.reason.startswith("measured from a point")
    assert len(calls) <= 2  # the click, and at most the one point outside its region
    assert len(calls) == 1  # here both points near the click lie in its region


def test_a_click_whose_neck_body_lies_beside_it_is_no_index_error():
    """A click inside a small lung nodule, off its centre (found by clicking at other
    points inside proposals): the neck cut looked up the click in a box that did not
    hold it and raised IndexError. Now a doubtful proposal."""
    vol, t = random_scene(14007)
    p = propose(vol, (2.1261336407312506, -2.1261336407312506, 0.0), nodal=t.lesion.nodal)
    assert p.low_confidence


@pytest.mark.parametrize(
    ("seed", "axis"),
    [
        (6143, 0),  # liver 65 mm, 59 HU brighter than liver, at fat: long axis
        (6030, 1),  # liver 47 mm at fat: short axis
        (6178, 1),  # liver 17 mm darker than liver, at a 3 mm bright vessel: short axis
    ],
)
def test_no_spur_into_the_corner_of_parenchyma_between_the_lesion_and_fat(seed, axis, monkeypatch):
    """Where a lesion, the liver it lies in and fat (or a bright vessel) meet, the
    blurred corner of liver between them holds values within the fat's half-way
    threshold: without the junction thresholds it joined the lesion as a spur along
    the fat and an axis ended on it (generated cases, known truth: +2.5 to +2.9 mm)."""
    from recist_tool.measure import segment

    vol, truth = random_scene(seed)
    p = propose(vol, truth.seed_lps, nodal=truth.lesion.nodal)
    assert abs(_errors(p, truth)[axis]) < 2.0
    monkeypatch.setattr(segment, "JUNCTION_EMBED_SHARE", 2.0)  # the rule off
    p = propose(vol, truth.seed_lps, nodal=truth.lesion.nodal)
    assert _errors(p, truth)[axis] > 2.5


@pytest.mark.parametrize(
    ("seed", "error_without"),
    [
        (11030, 4.0),  # liver 47 mm, 23 HU darker than the liver, at fat
        (6008, -2.5),  # liver 55 mm, 33 HU darker, at fat and a vessel
    ],
)
def test_no_sliver_of_parenchyma_between_a_dark_lesion_and_fat(seed, error_without, monkeypatch):
    """A liver lesion darker than the liver, at the fat outside it: the sliver of
    liver between them, blurred with the fat, passes through the lesion's level. The
    fat and the liver are not on opposite sides of it (the lesion is), so the rim
    test let it in, and the outline ran along the fat (known truth: short axis
    +5.3 mm; −3.3 mm when the sliver made another slice the longest)."""
    from recist_tool.measure import segment

    vol, truth = random_scene(seed)
    p = propose(vol, truth.seed_lps)
    assert max(abs(e) for e in _errors(p, truth)[:2]) < 2.0
    monkeypatch.setattr(
        segment, "_opposite_junction", lambda sm, mu, side, near, f, fr, lo, hi, sig: (lo, hi)
    )  # the rule off
    p = propose(vol, truth.seed_lps)
    e = _errors(p, truth)[1]
    assert e < error_without if error_without < 0 else e > error_without


@pytest.mark.parametrize("seed", [8211, 13187])
def test_a_vessel_touching_a_lung_nodule_is_not_part_of_it(seed, monkeypatch):
    """A lung nodule touched by a vessel 39–59 HU from it (8211: 12 mm, a 1.7 mm
    vessel; 13187: 32 mm, a 2.1 mm vessel): the lung's half-way threshold admitted
    the vessel and its blurred edge, and the long axis ran into it (known truth:
    +2.6 and +3.0 mm, confident). Voxels beyond the nodule's own band with no voxel
    of its level within reach are another structure's."""
    from recist_tool.measure import segment

    vol, truth = random_scene(seed)
    p = propose(vol, truth.seed_lps)
    assert abs(_errors(p, truth)[0]) < 2.3
    monkeypatch.setattr(
        segment, "_reach_limits", lambda sm, mu, band, sp, smooth_mm, lo, hi: (lo, hi)
    )  # the rule off
    p = propose(vol, truth.seed_lps)
    assert _errors(p, truth)[0] > 2.5


def test_a_region_that_did_not_settle_is_doubtful(monkeypatch):
    """A 37 mm liver lesion 36 HU darker than the liver at 18 HU noise, touching a
    vessel: the region swaps a fifth of its voxels back and forth in its last pass
    without growing, and its outline is ragged (known truth: long axis −8.4 mm,
    volume −58 %). It counted as converged and was confident."""
    from recist_tool.measure import segment

    vol, truth = random_scene(12136)
    p = propose(vol, truth.seed_lps)
    assert _errors(p, truth)[2] < -0.25
    assert p.low_confidence and "the outline did not settle" in p.reason
    monkeypatch.setattr(segment, "UNSETTLED_CHANGE", 1.0)  # the check off
    p = propose(vol, truth.seed_lps)
    assert not p.low_confidence


@pytest.mark.parametrize("seed", [11139, 13135])
def test_a_leak_at_a_faint_edge_is_redone_within_the_tissue_it_leaked_into(seed, monkeypatch):
    """Liver lesions 24–29 HU from the liver at 18–19 HU noise (11139: 13 mm, alone in
    the liver; 13135: 16 mm, at the fat outside it): the lesion's own band holds the
    liver too, and the outline ran through the whole liver to the 150 mm search box.
    Redone with the band kept within half-way to the level it leaked into, the axes
    are within 2.5 mm and the volume within 25 % of the truth; the proposal says what
    happened and stays doubtful (the edge is faint)."""
    from recist_tool.measure import segment

    vol, truth = random_scene(seed)
    p = propose(vol, truth.seed_lps)
    e_long, e_short, e_vol = _errors(p, truth)
    assert abs(e_long) <= 2.5 and abs(e_short) <= 2.5 and abs(e_vol) <= 0.25
    assert p.low_confidence and "the first outline leaked into the tissue around" in p.reason
    assert "search box" not in p.reason
    monkeypatch.setattr(segment, "LEAK_MIN_CONTRAST", float("inf"))  # no second attempt
    p = propose(vol, truth.seed_lps)
    assert _errors(p, truth)[0] > 20.0 and "search box" in p.reason


@pytest.mark.parametrize("seed", [17020, 16019])
def test_a_small_nodule_in_lung_is_not_smoothed_into_the_lung(seed, monkeypatch):
    """Lung nodules of 14 and 11 mm at the chest wall (17020, 16019): the spread of
    their own smoothed voxels is the smear of the lung around them, not noise, and
    it called for the smoother image, which smeared the lung further in: the edge
    facing the lung near the wall fell below the wall's threshold (known truth:
    volume −44 % and −28 %, confident). Against the smoothed image's noise measured
    over the crop, the contrast to the wall is not low, the image stays at ~1 mm and
    the volume is within 25 %."""
    from recist_tool.measure import segment

    vol, truth = random_scene(seed)
    p = propose(vol, truth.seed_lps)
    assert abs(_segmented_volume_error(p, truth)) <= 0.25
    assert "smoothing_mm" not in p.details["segmentation"]
    monkeypatch.setattr(segment, "LOW_CNR_FAR_HU", float("inf"))  # the lesion's spread
    p = propose(vol, truth.seed_lps)
    assert p.details["segmentation"]["smoothing_mm"] == segment.SMOOTH_LOW_CNR_MM
    assert _segmented_volume_error(p, truth) < -0.25


@pytest.mark.parametrize("site, long_mm", [("lymph_node", 14), ("lung", 12), ("liver", 15)])
def test_on_5mm_slices_the_caps_of_a_small_lesion_are_counted(site, long_mm):
    """5 mm slices (RECIST 1.1's largest recommended) cut a 12–15 mm lesion into two or
    three slices; the ones holding its top and bottom are too diluted to segment.
    Counting whole voxels lost them: volume −37 %, −27 % and −28 % (known truth, the
    axes right). The caps' partial-volume share brings it within 12 %; on 1.25 mm
    slices that share is a small part of the volume."""
    vol, truth = random_scene(0, site=site, long_mm=long_mm, spacing_zyx=(5.0, 0.75, 0.75))
    p = propose(vol, truth.seed_lps, nodal=truth.lesion.nodal)
    assert abs(p.volume_ml / truth.volume_ml - 1) <= 0.12
    assert _segmented_volume_error(p, truth) < -0.2  # the segmentation alone
    assert abs(p.long_axis_mm - truth.axes.long_mm) <= 1.5
    vol, truth = random_scene(0, site=site, long_mm=long_mm, spacing_zyx=(1.25, 0.75, 0.75))
    p = propose(vol, truth.seed_lps, nodal=truth.lesion.nodal)
    assert p.details["caps_ml"] < 0.1 * p.volume_ml
    assert abs(p.volume_ml / truth.volume_ml - 1) <= 0.12


def test_the_demo_cohorts_coarse_grid_is_measured(tmp_path):
    """The shipped demo cohort (``recist-tool synth studies``) has 3 mm pixels and 10 mm
    slices. The seed's statistics came from a 2.5 mm ball, there the seed voxel alone:
    no spread, a band too narrow for the noise, and a click at the middle of the 28 mm
    node's long axis gave 4.0 mm (the 42 mm liver lesion 24 mm). The ball now holds at
    least the seed's in-plane neighbours. Then the 24 mm lung nodule gave 17.5 mm
    (doubtful), at follow-up 10.9 for 15 mm: the method's rings and openings in mm
    were thinner than a pixel (no lung found around it, a third of it opened away).
    Coarse pixels are now segmented on ~1 mm cells: every target right at both time
    points, none of them doubtful."""
    import json

    from recist_tool.dicom import load_series
    from recist_tool.synth.demo import write_demo_cohort

    pat = write_demo_cohort(tmp_path, n=1)[0]
    truth = json.loads(pat.reading.with_suffix(".json").read_text())
    for j, folder in enumerate(pat.folders):
        vol = load_series(folder)
        assert min(vol.spacing_zyx[1:]) == 3.0
        for les in truth["lesions"]:
            if les["kind"] != "target":
                continue
            f = les["findings"][j]
            ends = np.array([f["long_axis"]["p1_lps"], f["long_axis"]["p2_lps"]])
            p = propose(vol, tuple(ends.mean(axis=0)), nodal=les["nodal"])
            what = f"{les['lesion_id']} at {f['timepoint']}: {p.reason}"
            assert abs(p.long_axis_mm - f["long_axis_mm"]) <= 2.0, what
            assert abs(p.short_axis_mm - f["short_axis_mm"]) <= 2.0, what
            assert not p.low_confidence, what
            # the mask on the series' own grid, as the SEG and the outline show it
            assert p.mask.shape == vol.shape and p.mask.any()


@pytest.mark.parametrize("seed", [36009, 36013])
def test_on_5mm_slices_the_cross_check_outlines_each_slice_on_its_own(seed):
    """A 13 mm node and a 16 mm liver lesion on 5 mm slices, measured right (known
    truth). The cross-check's watershed ran in 3-D: a neighbouring slice lies as far as
    its markers' margins, and its outline of a small lesion came out 3–5 mm smaller,
    which made half of all proposals on 5 mm slices doubtful, right or wrong. Each
    thick slice is now outlined on its own and agrees."""
    px = float(np.random.default_rng([seed, 99]).uniform(0.65, 0.85))
    vol, truth = random_scene(seed, spacing_zyx=(5.0, px, px))
    p = propose(vol, truth.seed_lps, nodal=truth.lesion.nodal)
    assert abs(p.long_axis_mm - truth.axes.long_mm) <= 1.5
    assert abs(p.short_axis_mm - truth.axes.short_mm) <= 2.5
    cross = p.details["crosscheck"]
    assert abs(cross["long_mm"] - p.long_axis_mm) <= 1.5
    assert "second outline method" not in p.reason
