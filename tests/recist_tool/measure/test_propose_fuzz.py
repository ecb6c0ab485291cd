"""``propose()`` on hostile volumes: a proposal or a clear :class:`MeasureError`, never
another exception (bounded hypothesis fuzzing, the suite's fixed derandomized budget:
:mod:`tests.recist_tool.fuzzing`)."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recist_tool.dicom.volume import Volume
from recist_tool.measure import MeasureError, propose
from tests.recist_tool.fuzzing import budget

PATTERNS = ("noise", "constant", "blob", "extremes", "nan", "few nan", "checker", "float")


def _volume(shape, pattern: str, rng: np.random.Generator, spacing) -> Volume:
    if pattern == "constant":
        arr = np.full(shape, int(rng.integers(-1024, 3000)), np.int16)
    elif pattern == "blob":  # a bright ball in noise, cut by the volume's faces
        zz, yy, xx = np.indices(shape)
        c = [rng.uniform(0, n) for n in shape]
        r = rng.uniform(0.5, max(shape))
        inside = (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 < r * r
        arr = (np.where(inside, 60, -100) + rng.normal(0, 15, shape)).astype(np.int16)
    elif pattern == "extremes":
        arr = np.where(rng.random(shape) < 0.5, 32767, -32768).astype(np.int16)
    elif pattern == "checker":
        arr = np.where(np.indices(shape).sum(0) % 2 == 0, 40, -40).astype(np.int16)
    elif pattern in ("nan", "few nan", "float"):
        arr = rng.normal(0, 50, shape).astype(np.float32)
        if pattern == "nan":
            arr[rng.random(shape) < 0.3] = np.nan
            arr[rng.random(shape) < 0.05] = np.inf
        elif pattern == "few nan":  # a handful, rarely at the click itself
            for _ in range(int(rng.integers(1, 4))):
                arr[tuple(int(rng.integers(0, n)) for n in shape)] = np.nan
    else:
        arr = rng.integers(-1024, 3071, shape).astype(np.int16)
    return Volume(
        array=arr,
        spacing_zyx=spacing,
        origin_lps=(0.0, 0.0, 0.0),
        direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
    )


@budget(150)
@given(
    shape=st.tuples(st.integers(1, 6), st.integers(1, 24), st.integers(1, 24)),
    pattern=st.sampled_from(PATTERNS),
    spacing=st.tuples(
        st.sampled_from([0.5, 1.0, 2.5, 5.0]),
        st.sampled_from([0.3, 0.7, 1.5]),
        st.sampled_from([0.3, 0.7, 1.5]),
    ),
    where=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
    hint=st.booleans(),
    nodal=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_hostile_volume_gives_a_proposal_or_a_clear_error(
    shape, pattern, spacing, where, hint, nodal, seed
):
    vol = _volume(shape, pattern, np.random.default_rng(seed), spacing)
    idx = [w * (n - 1) for w, n in zip(where, shape, strict=True)]
    click = tuple(float(v) for v in vol.index_to_lps(np.asarray(idx, float)))
    line = None
    if hint:
        other = [min(n - 1, i + 3) for i, n in zip(idx, shape, strict=True)]
        line = [click, tuple(float(v) for v in vol.index_to_lps(np.asarray(other, float)))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN voxels in numpy reductions
        try:
            p = propose(vol, click, axis_hint=line, nodal=nodal)
        except MeasureError as e:
            assert str(e)
            return
    assert math.isfinite(p.long_axis_mm) and math.isfinite(p.short_axis_mm)
    assert 0.0 <= p.short_axis_mm <= p.long_axis_mm + 1e-6
    assert 0.0 <= p.confidence <= 1.0
    assert p.mask.shape == vol.shape and p.mask.any()
    assert p.volume_ml > 0


def test_non_finite_voxels_near_the_click_are_named():
    """A float series with NaN voxels near the click: the error says so and where
    (it was a ValueError from the histogram of the tissues around)."""
    rng = np.random.default_rng(1)
    vol = _volume((3, 5, 1), "float", rng, (2.5, 1.5, 0.3))
    vol.array[1, 2, 0] = np.nan
    click = tuple(float(v) for v in vol.index_to_lps(np.array([1.0, 1.0, 0.0])))
    with pytest.raises(MeasureError, match=r"not numbers \(NaN or infinite\).*\(1, 2, 0\)"):
        propose(vol, click)


@functools.cache
def _scene(seed: int):
    """A generated scene and the LPS centres of the voxels inside its lesion."""
    from recist_tool.synth.lesions import random_scene

    vol, truth = random_scene(seed)
    idx = np.indices(vol.shape).reshape(3, -1).T.astype(float)
    lps = np.asarray(vol.index_to_lps(idx), float)
    return vol, truth, lps[truth.lesion.signed_distance(lps) < 0]


@budget(40)
@given(scene=st.sampled_from(range(14000, 14012)), at=st.floats(0, 1, exclude_max=True))
def test_a_click_anywhere_inside_a_lesion_gives_a_proposal_or_a_clear_error(scene, at):
    """A reader clicks wherever inside a lesion, not at its centre: a click off the
    centre of a small nodule raised IndexError from the neck cut."""
    vol, truth, inside = _scene(scene)
    click = tuple(float(v) for v in inside[int(at * len(inside))])
    try:
        p = propose(vol, click, nodal=truth.lesion.nodal)
    except MeasureError as e:
        assert str(e)
        return
    assert 0.0 <= p.short_axis_mm <= p.long_axis_mm + 1e-6
    assert 0.0 <= p.confidence <= 1.0 and p.mask.any()
