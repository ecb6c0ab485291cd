"""Pixels streamed in the background: a volume a viewer can show before it is read.

``load_series(path, stream=True)`` returns a :class:`~recist_tool.dicom.Volume` as
soon as the headers are read and checked, with a :class:`StreamedArray` as its
``array`` when the series allows it (every slice uncompressed and its rescaled
values known from the header to fit int16, no gantry tilt to resample). What
stays the same: every check of the header pass has run (geometry, missing slices,
truncated pixel data, duplicate positions …) before the call returns, so an error
of the series is raised at once, as with ``stream=False``. What changes: the pixels
are read by :meth:`StreamedArray.start` in a background thread, and until then any
single slice is read on demand from its file (what a viewer showing one slice
asks for). Anything else — ``numpy.asarray(volume.array)``, a range of slices —
waits for the whole volume (and reads it in the calling thread if nothing started
it). This is how a PACS viewer shows the first image before the series is in
memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from recist_tool.dicom.geometry import VolumePlan
from recist_tool.dicom.pixels import fits_int16, read_native_slice, read_pixels


def streamable(plan: VolumePlan, dtype: np.dtype) -> bool:
    """Whether ``plan`` can be read by a :class:`StreamedArray` (see the module)."""
    return (
        dtype == np.int16
        and plan.shear_px is None
        and all(not s.header.multiframe and fits_int16(s) for s in plan.slices)
    )


class StreamedArray:
    """The voxel values of a volume, read in a background thread.

    It behaves as a read-only 3-D array (``shape``, ``dtype``, ``ndim``,
    indexing, ``numpy.asarray``): a single slice (``a[k]``, ``a[k, ...]``) is
    served at once, from the volume when it has been read, else from the slice's
    file (also after a failed read: the other slices stay readable); anything else
    waits for the volume.

    Parameters
    ----------
    plan : VolumePlan
        The checked slices (every one native and int16-safe: see :func:`streamable`).
    fill : int
        The value of padding voxels.
    """

    def __init__(self, plan: VolumePlan, fill: int) -> None:
        h0 = plan.slices[0].header
        self._plan = plan
        self._fill = int(fill)
        self.shape: tuple[int, int, int] = (len(plan.slices), h0.rows, h0.columns)
        self.dtype = np.dtype(np.int16)
        self.ndim = 3
        self._out: np.ndarray | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._callbacks: list[Callable[[StreamedArray], Any]] = []

    # -- array protocol --------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of voxels."""
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        """Bytes of the volume once read."""
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self.result()
        if dtype is not None and np.dtype(dtype) != arr.dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def __getitem__(self, key: Any) -> np.ndarray:
        if self._done.is_set() and self._error is None:
            assert self._out is not None
            return self._out[key]
        k, rest = _one_slice(key, self.shape[0])
        if k is None:
            return self.result()[key]
        return read_native_slice(self._plan.slices[k], self._fill)[rest]

    def __repr__(self) -> str:
        state = "read" if self.done else ("reading" if self._thread else "not started")
        return f"<StreamedArray {self.shape} {self.dtype}: {state}>"

    # -- the background read ---------------------------------------------------------
    @property
    def done(self) -> bool:
        """Whether the read has ended (see :meth:`result` for its outcome)."""
        return self._done.is_set()

    def start(self) -> None:
        """Start reading the volume in a background thread (once; no-op after)."""
        with self._lock:
            if self._thread is not None or self._done.is_set():
                return
            self._thread = threading.Thread(target=self._read, name="recist-pixels", daemon=True)
            self._thread.start()

    def result(self, timeout: float | None = None) -> np.ndarray:
        """The volume (``numpy.ndarray``), waiting for the read (or reading it here if
        nothing started it).

        Raises
        ------
        recist_tool.dicom.DicomError
            What reading the pixels raised (e.g. a file changed since its header was
            read); ``TimeoutError`` when ``timeout`` seconds pass first.
        """
        with self._lock:
            here = self._thread is None and not self._done.is_set()
            if here:
                self._thread = threading.current_thread()
        if here:
            self._read()
        if not self._done.wait(timeout):
            raise TimeoutError(f"the pixels of {self._plan.folder} were not read in {timeout} s")
        if self._error is not None:
            raise self._error
        assert self._out is not None
        return self._out

    def add_done_callback(self, fn: Callable[[StreamedArray], Any]) -> None:
        """Call ``fn(self)`` when the read ends (at once if it has; from the reading
        thread otherwise)."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(fn)
                return
        fn(self)

    def _read(self) -> None:
        try:
            out = np.empty(self.shape, dtype=self.dtype)
            read_pixels(self._plan, self.dtype, self._fill, out=out)
            self._out = out
        except BaseException as exc:  # handed to whoever asks for the result
            self._error = exc
        finally:
            with self._lock:
                self._done.set()
                callbacks, self._callbacks = self._callbacks, []
            for fn in callbacks:
                fn(self)


def _one_slice(key: Any, n: int) -> tuple[int | None, Any]:
    """``(k, rest)`` when ``key`` picks the single slice ``k`` — an index, or a range of
    one slice as napari asks for (``rest`` then keeps the length-1 axis) — where
    ``slice_k[rest]`` is the answer; else ``(None, None)``."""
    first, rest = (key[0], key[1:]) if isinstance(key, tuple) and key else (key, ())
    if isinstance(first, (int, np.integer)) and not isinstance(first, bool):
        k = int(first)
        if -n <= k < n:
            return k % n, rest
    elif isinstance(first, slice):
        picked = range(*first.indices(n))
        if len(picked) == 1:
            return picked[0], (np.newaxis, *rest)
    return None, None


__all__ = ["StreamedArray", "streamable"]
