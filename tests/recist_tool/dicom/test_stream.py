"""``load_series(..., stream=True)``: the headers now, the pixels in the background,
any single slice at once — always the values the eager loader reads."""

from __future__ import annotations

import os
import shutil
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recist_tool.dicom import MissingSliceError, UnreadableFileError, load_series
from recist_tool.dicom.stream import StreamedArray

STREAMABLE = {
    "clean": {},
    "signed12": {"signed": True, "bits_stored": 12, "intercept": 0.0},
    "pad0": {"signed": True, "bits_stored": 16, "intercept": 0.0, "padding_value": -2000},
    "garbage": {"high_bit_garbage": True},
}


@pytest.mark.parametrize("name", sorted(STREAMABLE))
def test_every_slice_at_once_then_the_whole_volume_equal_the_eager_read(series_dir, name):
    folder = series_dir(name, **STREAMABLE[name])
    eager = load_series(folder).array
    vol = load_series(folder, stream=True)
    a = vol.array
    assert isinstance(a, StreamedArray) and not a.done
    assert (a.shape, a.dtype, a.ndim, len(a)) == (eager.shape, eager.dtype, 3, eager.shape[0])
    assert vol.shape == eager.shape
    for k in range(eager.shape[0]):  # what a viewer asks for: read from the file
        np.testing.assert_array_equal(a[k], eager[k])
        np.testing.assert_array_equal(a[slice(k, k + 1), :, :], eager[k : k + 1])
    np.testing.assert_array_equal(a[-1, 3:9, ::2], eager[-1, 3:9, ::2])
    assert not a.done  # no single slice made it read the volume
    a.start()
    whole = a.result(timeout=30)
    assert a.done and isinstance(whole, np.ndarray)
    np.testing.assert_array_equal(whole, eager)
    np.testing.assert_array_equal(np.asarray(a), eager)
    assert np.asarray(a) is whole  # no copy
    np.testing.assert_array_equal(a[eager > 0], eager[eager > 0])


@pytest.mark.parametrize(
    "name, options",
    [
        ("slopes", {"vary_slope": True}),  # float32: the rescale is per slice
        ("u16", {"bits_stored": 16}),  # values may need float32: known only once read
        ("pad", {"signed": True, "bits_stored": 16, "padding_value": -2000}),  # the same
        ("rle", {"transfer_syntax": "rle"}),  # compressed
        ("multiframe-explicit", {"multiframe": True, "transfer_syntax": "explicit"}),
    ],
)
def test_what_cannot_stream_is_read_at_once(series_dir, name, options):
    folder = series_dir(name, **options)
    vol = load_series(folder, stream=True)
    assert isinstance(vol.array, np.ndarray)
    np.testing.assert_array_equal(vol.array, load_series(folder).array)


def test_a_range_of_slices_reads_the_volume_in_the_calling_thread(series_dir):
    folder = series_dir("clean")
    eager = load_series(folder).array
    a = load_series(folder, stream=True).array
    np.testing.assert_array_equal(a[2:5], eager[2:5])  # never started: read here
    assert a.done
    a.start()  # nothing left to do
    np.testing.assert_array_equal(a.result(), eager)


def test_the_series_checks_still_run_before_the_call_returns(series_dir):
    with pytest.raises(MissingSliceError):
        load_series(series_dir("gap", missing=[7]), stream=True)


def test_a_file_cut_after_its_header_was_read_is_named(series_dir, tmp_path):
    folder = tmp_path / "cut"
    shutil.copytree(series_dir("clean"), folder)
    a = load_series(folder, stream=True).array
    victim = a._plan.slices[4].header.path
    with open(victim, "r+b") as f:
        f.truncate(os.path.getsize(victim) - 3000)
    seen: list[BaseException] = []

    def done(arr: StreamedArray) -> None:
        try:
            arr.result()
        except UnreadableFileError as exc:
            seen.append(exc)

    a.add_done_callback(done)
    with pytest.raises(UnreadableFileError, match=os.path.basename(victim)):
        a[4]  # the slice itself, from its file
    a.start()
    with pytest.raises(UnreadableFileError, match=os.path.basename(victim) + ": truncated"):
        a.result(timeout=30)
    assert len(seen) == 1 and os.path.basename(victim) in str(seen[0])
    # the other slices are still shown (read from their files); the cut one is named
    np.testing.assert_array_equal(a[0], load_series(series_dir("clean")).array[0])
    with pytest.raises(UnreadableFileError, match=os.path.basename(victim)):
        a[4]
    called = []
    a.add_done_callback(called.append)  # after the end: at once
    assert called == [a]


def test_a_file_gone_after_its_header_was_read_is_named(series_dir, tmp_path):
    folder = tmp_path / "gone"
    shutil.copytree(series_dir("clean"), folder)
    a = load_series(folder, stream=True).array
    victim = a._plan.slices[7].header.path
    os.remove(victim)
    name = os.path.basename(victim)
    with pytest.raises(UnreadableFileError, match=name + ": pixel data of frame 1 cannot be read"):
        a[7]
    a.start()
    with pytest.raises(UnreadableFileError, match=name):
        a.result(timeout=30)
    assert a[0].shape == (64, 64)  # the others are still read


def test_a_huge_series_is_refused_before_anything_is_allocated(series_dir, monkeypatch):
    from recist_tool.dicom import VolumeTooLargeError
    from recist_tool.dicom import load as L

    monkeypatch.setattr(L, "_physical_memory", lambda: 1000)
    with pytest.raises(VolumeTooLargeError, match="more than"):
        load_series(series_dir("clean"), stream=True)


def test_several_threads_get_the_one_volume(series_dir):
    a = load_series(series_dir("clean"), stream=True).array
    got: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: got.append(a.result(timeout=30))) for _ in range(4)]
    for t in threads:
        t.start()
    a.start()
    for t in threads:
        t.join(30)
    assert len(got) == 4 and all(g is got[0] for g in got)


_index = st.one_of(
    st.integers(-25, 24),
    st.slices(20),
    st.just(Ellipsis),
    st.none(),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    key=st.one_of(
        _index, st.tuples(_index), st.tuples(_index, _index), st.tuples(_index, _index, _index)
    )
)
def test_any_index_gives_numpys_answer_or_numpys_error(series_dir, key):
    folder = series_dir("clean")
    eager = load_series(folder).array
    a = load_series(folder, stream=True).array
    try:
        want = eager[key]
    except (IndexError, TypeError) as exc:
        with pytest.raises(type(exc)):
            a[key]
        return
    np.testing.assert_array_equal(a[key], want)
    assert np.shape(a[key]) == np.shape(want)
