"""Registration of a follow-up to a baseline with a known transform, and its cache."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from recist_tool import register as reg_mod
from recist_tool.register import (
    Registration,
    RegistrationCache,
    RegistrationCacheWarning,
    RegistrationCancelled,
    RegistrationError,
    register,
)
from recist_tool.synth.lesions import followup_pair


@pytest.fixture(scope="module")
def pair():
    """Baseline and follow-up (rigid + affine + 2.5 mm deformation, other contrast
    phase, lesions shrunk): 60 × 128 × 128 at 5 × 3 × 3 mm."""
    return followup_pair(shape=(60, 128, 128), spacing_zyx=(5.0, 3.0, 3.0))


@pytest.fixture(scope="module")
def registration(pair):
    base, fu, _ = pair
    return register(base, fu)


def test_target_error_at_lesion_centres(pair, registration):
    _, _, truth = pair
    before = np.linalg.norm(truth.centers_followup - truth.centers_baseline, axis=1)
    moved = registration.to_moving(truth.centers_baseline)
    tre = np.linalg.norm(moved - truth.centers_followup, axis=1)
    assert np.median(before) > 10  # the follow-up really moved
    assert np.median(tre) <= 3.0 and tre.max() <= 4.0
    back = registration.to_fixed(registration.to_moving(truth.centers_baseline))
    assert np.allclose(back, truth.centers_baseline)
    assert registration.fixed_uid == "2.25.1001" and registration.moving_uid == "2.25.1002"


def test_dict_round_trip_and_inverse(registration):
    again = Registration.from_dict(json.loads(json.dumps(registration.to_dict())))
    p = np.array([[10.0, -20.0, 30.0]])
    assert np.allclose(again.to_moving(p), registration.to_moving(p))
    inv = registration.inverse()
    assert np.allclose(inv.to_moving(registration.to_moving(p)), p)
    with pytest.raises(RegistrationError):
        Registration.from_dict({"matrix": [[1, 2], [3, 4]]})


def test_too_small_series_is_a_clear_error(pair):
    base, _, _ = pair
    tiny = type(base)(base.array[:2, :8, :8], base.spacing_zyx, base.origin_lps, base.direction)
    with pytest.raises(RegistrationError, match="too small"):
        register(base, tiny)


def test_cache_computes_once_keeps_on_disk_and_inverts(pair, registration, tmp_path, monkeypatch):
    base, fu, _ = pair
    calls = []

    def fake(fixed, moving, cancel=None):
        calls.append(1)
        threading.Event().wait(0.2)  # long enough for the second thread to ask
        return registration

    monkeypatch.setattr(reg_mod, "register", fake)
    cache = RegistrationCache(tmp_path)
    futures = [cache.submit(base, fu), cache.submit(base, fu)]
    results = [cache.compute(base, fu)] + [f.result(timeout=30) for f in futures]
    assert len(calls) == 1 and all(r is results[0] for r in results)
    cache.close()
    # a new cache (a new session) finds it on disk; the reverse pair is its inverse
    fresh = RegistrationCache(tmp_path)
    got = fresh.get("2.25.1001", "2.25.1002")
    assert got is not None and np.allclose(got.matrix, registration.matrix)
    rev = fresh.get("2.25.1002", "2.25.1001")
    assert np.allclose(rev.matrix, np.linalg.inv(registration.matrix))
    assert fresh.get("2.25.1001", "2.25.9999") is None
    # a damaged cache file is recomputed, never trusted
    for f in tmp_path.glob("registration-*.json"):
        f.write_text("{not json")
    assert RegistrationCache(tmp_path).get("2.25.1001", "2.25.1002") is None
    assert len(calls) == 1


def test_local_refinement_stays_near_the_global_map(pair, registration):
    base, fu, truth = pair
    c = truth.centers_baseline[0]
    local = registration.refine(base, fu, c)
    assert local.center_lps == tuple(c) and local.radius_mm > 0
    assert np.linalg.norm(local.to_moving(c) - registration.to_moving(c)) <= 8.0


def _register_within(fixed, moving, seconds: float = 120.0):
    """register() in a daemon thread: a hang fails the test instead of the run."""
    out: dict = {}

    def run():
        try:
            out["result"] = register(fixed, moving)
        except Exception as exc:  # handed to the test
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"register() still running after {seconds:.0f} s"
    return out


def test_nan_voxels_and_a_uniform_series_are_clear_errors(pair):
    """A float series with NaN voxels made SimpleITK's optimiser run for ever (the
    plugin's background registration never ended); a uniform one failed with
    SimpleITK's own words ("Refusing to change spacing"). Both are named now."""
    from dataclasses import replace

    base, fu = pair[0], pair[1]
    arr = np.asarray(fu.array).astype(np.float32)
    arr[::7, ::5, ::3] = np.nan
    out = _register_within(base, replace(fu, array=arr))
    assert isinstance(out.get("error"), RegistrationError)
    assert "not numbers (NaN)" in str(out["error"])
    flat = replace(fu, array=np.zeros(fu.array.shape, np.int16))
    out = _register_within(base, flat)
    assert isinstance(out.get("error"), RegistrationError)
    assert "is uniform (every voxel 0)" in str(out["error"])


def test_bad_points_and_boxes_outside_the_series_are_clear_errors(pair, registration):
    """refine() took a NaN point or radius to int() (ValueError), two points to
    TypeError, a point far outside to "series … is too small to register"; to_moving()
    took a wrong shape to numpy's matmul message."""
    base, fu, truth = pair
    c = truth.centers_baseline[0]
    cases = [
        ((np.array([np.nan, 0.0, 0.0]), 40.0), "not a point .* got \\(nan, 0.0, 0.0\\)"),
        (([c, c], 40.0), "not a point .* got \\(2, 3\\)"),
        ((c, float("nan")), "radius_mm must be a positive number"),
        ((c, 0.0), "radius_mm must be a positive number"),
        ((c + 5000.0, 40.0), "lies outside the fixed series 2.25.1001"),
        ((c, 2.0), "box around the point holds too little of series 2.25.1001"),
    ]
    for (point, radius), message in cases:
        with pytest.raises(RegistrationError, match=message):
            registration.refine(base, fu, point, radius)
    for bad in ("abc", [[1.0, 2.0]], [], [1.0, 2.0, 3.0, 4.0]):
        with pytest.raises(RegistrationError, match="points must be LPS coordinates"):
            registration.to_moving(bad)
        with pytest.raises(RegistrationError, match="points must be LPS coordinates"):
            registration.to_fixed(bad)
    # one point and n points still map, both ways
    assert registration.to_moving(c).shape == (3,)
    assert registration.to_fixed(np.zeros((0, 3))).shape == (0, 3)


def test_a_cache_folder_that_cannot_be_written_keeps_the_registration(
    pair, registration, tmp_path, monkeypatch
):
    """A file where the cache folder should be (or a read-only disk): the registration,
    computed for seconds, failed with FileExistsError and the follow-up jump with it.
    Now it is returned, kept in memory, and a warning names the folder."""
    base, fu, _ = pair
    monkeypatch.setattr(reg_mod, "register", lambda fixed, moving, cancel=None: registration)
    blocked = tmp_path / "SYN-12.registrations"
    blocked.write_text("not a folder")
    cache = RegistrationCache(blocked)
    with pytest.warns(RegistrationCacheWarning, match="SYN-12.registrations"):
        got = cache.compute(base, fu)
    assert got is registration
    assert cache.get("2.25.1001", "2.25.1002") is registration
    assert blocked.read_text() == "not a folder"  # nothing damaged


class _SetAfter(threading.Event):
    """An event that reads as set from its ``n``-th check on (a cancel from another
    thread at a known point of the registration)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.checks = n, 0

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks >= self.n or super().is_set()


def test_a_cancelled_registration_stops_within_an_iteration(pair):
    """Closing the napari window while a registration ran waited for it (seconds to
    tens of seconds) and then raised RuntimeError from a deleted Qt signal. A cancel
    now stops SimpleITK's optimiser at its next iteration."""
    base, fu, _ = pair
    cancel = _SetAfter(6)  # one check before the rigid stage, then its iterations
    with pytest.raises(RegistrationCancelled, match=r"2\.25\.1002 to 2\.25\.1001 cancelled"):
        register(base, fu, cancel=cancel)
    # stopped by the iteration hook: a whole registration checks hundreds of times
    assert cancel.checks <= 8
    with pytest.raises(RegistrationCancelled):
        register(base, fu, cancel=_SetAfter(1))  # before anything is computed
    assert isinstance(RegistrationCancelled("x"), RegistrationError)


def test_closing_the_cache_cancels_what_runs_and_writes_nothing(pair, tmp_path, monkeypatch):
    base, fu, _ = pair
    cache = RegistrationCache(tmp_path)
    started = threading.Event()
    original = reg_mod.register

    def slow(fixed, moving, cancel=None):
        started.set()
        return original(fixed, moving, cancel=cancel)

    monkeypatch.setattr(reg_mod, "register", slow)
    future = cache.submit(base, fu)
    assert started.wait(60)
    cache.close()  # cancels, waits for the thread to stop
    assert future.done()
    with pytest.raises(RegistrationCancelled):
        future.result()
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    assert cache.get("2.25.1001", "2.25.1002") is None
    with pytest.raises(RegistrationCancelled):  # a closed cache computes nothing
        cache.compute(base, fu)
