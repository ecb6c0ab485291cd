"""Registration of a follow-up series to a baseline series (SimpleITK), and its cache.

:func:`register` finds the affine map between two CT volumes of one patient:

1. both volumes are reduced to ~4.5 mm voxels by block means (anti-aliased, fast:
   a 512 × 512 × 300 series becomes ~90 × 90 × 70);
2. the moving volume is centred on the fixed one by their intensity moments (the
   body's centre of mass);
3. a rigid transform (SimpleITK ``Euler3DTransform``), then an affine one, each over a
   two-level pyramid (9 mm then 4.5 mm), Mattes mutual information (robust to a
   change of contrast phase), regular-step gradient descent.

Its :class:`Registration` maps points both ways (:meth:`Registration.to_moving`,
:meth:`Registration.to_fixed`). Near a lesion, :meth:`Registration.refine` adds a
rigid registration of a ~80 mm box at ~1.5 mm (organs move against each other:
breathing, bowel, bladder), valid around that point.

:class:`RegistrationCache` keeps registrations per series pair in memory and,
optionally, on disk (one JSON per pair), computes each pair once however many
threads ask for it, and runs registrations in a background thread
(:meth:`RegistrationCache.submit`) — what the napari plugin uses. Pure Python: no Qt.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recist_tool.errors import RecistError

#: Voxel size (mm) of the volumes the global registration works on.
GLOBAL_MM = 4.5
#: Voxel size (mm) and half-size (mm) of the box of the local refinement.
LOCAL_MM = 1.5
LOCAL_RADIUS_MM = 40.0
#: A local refinement moving the point further than this (mm) is rejected.
LOCAL_MAX_SHIFT_MM = 8.0
#: Version of the method: part of the cache key (a change recomputes).
METHOD_VERSION = "1"


class RegistrationError(RecistError):
    """Two series cannot be registered (no overlap, no body, wrong input)."""


class RegistrationCancelled(RegistrationError):
    """A registration was stopped before it finished (:meth:`RegistrationCache.close`,
    or the ``cancel`` event given to :func:`register`)."""


class RegistrationCacheWarning(UserWarning):
    """A registration could not be written to the cache folder (it is kept in
    memory for the session)."""


@dataclass
class Registration:
    """An affine map between two series of one patient.

    ``matrix`` (4 × 4) takes fixed-series LPS points (mm) to moving-series LPS points:
    ``moving = matrix @ [x, y, z, 1]``. A refined registration (``center_lps`` and
    ``radius_mm`` set) is valid near that point only.
    """

    matrix: np.ndarray
    fixed_uid: str = ""
    moving_uid: str = ""
    metric: float = float("nan")
    seconds: float = 0.0
    center_lps: tuple[float, float, float] | None = None
    radius_mm: float | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)

    def to_moving(self, points_lps: Any) -> np.ndarray:
        """Map fixed-series LPS points ``(3,)`` or ``(n, 3)`` into the moving series.

        Raises
        ------
        RegistrationError
            When ``points_lps`` is not one point or a list of points of three numbers.
        """
        return _apply(self.matrix, _points(points_lps))

    def to_fixed(self, points_lps: Any) -> np.ndarray:
        """Map moving-series LPS points ``(3,)`` or ``(n, 3)`` into the fixed series.

        Raises
        ------
        RegistrationError
            When ``points_lps`` is not one point or a list of points of three numbers.
        """
        return _apply(np.linalg.inv(self.matrix), _points(points_lps))

    def inverse(self) -> Registration:
        """The same registration with fixed and moving swapped."""
        return Registration(
            np.linalg.inv(self.matrix),
            self.moving_uid,
            self.fixed_uid,
            self.metric,
            self.seconds,
            None if self.center_lps is None else tuple(self.to_moving(self.center_lps)),
            self.radius_mm,
            list(self.stages),
        )

    def refine(
        self,
        fixed: Any,
        moving: Any,
        point_lps: Sequence[float],
        radius_mm: float = LOCAL_RADIUS_MM,
    ) -> Registration:
        """A registration valid near ``point_lps`` (fixed-series LPS): a rigid
        refinement of this one on a box of ``radius_mm`` around the point at
        ~:data:`LOCAL_MM` resolution. Falls back to this registration when the
        refinement moves the point by more than :data:`LOCAL_MAX_SHIFT_MM` from where
        the global map puts it (organs slide by millimetres, not centimetres: a larger
        jump is the optimiser slipping in featureless tissue).

        Raises
        ------
        RegistrationError
            When ``point_lps`` is not a finite point, ``radius_mm`` not a positive
            number, the box around the point lies outside either series, or the box
            is too small or holds nothing to register by.
        """
        t0 = time.perf_counter()
        point = _points(point_lps)
        if point.shape != (3,) or not np.all(np.isfinite(point)):
            got = tuple(float(v) for v in point) if point.shape == (3,) else point.shape
            raise RegistrationError(
                f"point_lps is not a point (three finite LPS coordinates, mm): got {got}"
            )
        try:
            radius_mm = float(radius_mm)
        except (TypeError, ValueError):
            radius_mm = float("nan")
        if not (np.isfinite(radius_mm) and radius_mm > 0):
            raise RegistrationError("radius_mm must be a positive number of millimetres")
        matrix, metric = _local(fixed, moving, self.matrix, point, radius_mm)
        shift = np.linalg.norm(_apply(matrix, point) - _apply(self.matrix, point))
        stage = {"stage": "local rigid", "metric": metric, "shift_mm": float(shift)}
        if not np.isfinite(shift) or shift > LOCAL_MAX_SHIFT_MM:
            stage["rejected"] = True
            matrix = self.matrix
        return Registration(
            matrix,
            self.fixed_uid,
            self.moving_uid,
            metric,
            time.perf_counter() - t0,
            tuple(float(v) for v in point),
            float(radius_mm),
            [*self.stages, stage],
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON) of the registration."""
        return {
            "matrix": np.asarray(self.matrix).tolist(),
            "fixed_uid": self.fixed_uid,
            "moving_uid": self.moving_uid,
            "metric": None if not np.isfinite(self.metric) else float(self.metric),
            "seconds": self.seconds,
            "center_lps": None if self.center_lps is None else list(self.center_lps),
            "radius_mm": self.radius_mm,
            "stages": self.stages,
            "method_version": METHOD_VERSION,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Registration:
        """Inverse of :meth:`to_dict`."""
        m = np.asarray(data["matrix"], float)
        if m.shape != (4, 4) or not np.all(np.isfinite(m)):
            raise RegistrationError("registration matrix must be 4 × 4 finite numbers")
        c = data.get("center_lps")
        return cls(
            m,
            str(data.get("fixed_uid", "")),
            str(data.get("moving_uid", "")),
            float("nan") if data.get("metric") is None else float(data["metric"]),
            float(data.get("seconds", 0.0)),
            None if c is None else tuple(float(v) for v in c),
            data.get("radius_mm"),
            list(data.get("stages", [])),
        )


def _apply(matrix: np.ndarray, p) -> np.ndarray:
    p = np.asarray(p, float)
    return p @ matrix[:3, :3].T + matrix[:3, 3]


def _points(points_lps: Any) -> np.ndarray:
    """``points_lps`` as a float array of shape ``(3,)`` or ``(n, 3)``."""
    try:
        p = np.asarray(points_lps, dtype=float)
    except (TypeError, ValueError):
        p = np.array([])
    if p.shape != (3,) and (p.ndim != 2 or p.shape[1] != 3):
        raise RegistrationError(
            "points must be LPS coordinates in mm: one point (3 numbers) or n points "
            f"(n × 3 numbers), got {np.shape(p) if p.size else repr(points_lps)[:60]}"
        )
    return p


# ------------------------------------------------------------------------- SimpleITK


def _uid(volume: Any) -> str:
    return str((getattr(volume, "metadata", None) or {}).get("series_instance_uid") or "")


def _to_sitk(volume: Any, target_mm: float, box: tuple[slice, slice, slice] | None = None):
    """The volume (or a box of it) reduced by block means to ~``target_mm`` voxels,
    as a float32 SimpleITK image with the volume's geometry."""
    import SimpleITK as sitk

    arr = np.asarray(volume.array)
    whole = box is None
    if box is None:
        box = (slice(0, arr.shape[0]), slice(0, arr.shape[1]), slice(0, arr.shape[2]))
    sp = np.asarray(volume.spacing_zyx, float)
    f = np.maximum(1, np.rint(target_mm / sp)).astype(int)
    n = [(b.stop - b.start) // k for b, k in zip(box, f, strict=True)]
    if min(n) < 4:
        if whole:
            raise RegistrationError(
                f"series {_uid(volume) or '?'} is too small to register ({arr.shape} voxels)"
            )
        raise RegistrationError(
            f"the box around the point holds too little of series {_uid(volume) or '?'} "
            f"to register ({tuple(b.stop - b.start for b in box)} voxels, fewer than 4 of "
            f"{target_mm:g} mm along an axis): a larger radius, or a point further inside"
        )
    sub = arr[tuple(slice(b.start, b.start + m * k) for b, m, k in zip(box, n, f, strict=True))]
    sub = np.clip(sub.astype(np.float32), -1024.0, 1500.0)
    coarse = sub.reshape(n[0], f[0], n[1], f[1], n[2], f[2]).mean(axis=(1, 3, 5))
    if np.isnan(coarse).any():  # SimpleITK's optimiser never ends on NaN voxels
        raise RegistrationError(
            f"series {_uid(volume) or '?'} has {int(np.isnan(sub).sum())} voxels that are "
            "not numbers (NaN): it cannot be registered"
        )
    if float(np.ptp(coarse)) == 0.0:
        raise RegistrationError(
            f"series {_uid(volume) or '?'} is uniform (every voxel {float(coarse.flat[0]):g}): "
            "there is nothing to register it by"
        )
    img = sitk.GetImageFromArray(np.ascontiguousarray(coarse, dtype=np.float32))
    start = np.array([b.start for b in box], float) + (f - 1) / 2.0
    img.SetOrigin(tuple(float(v) for v in volume.index_to_lps(start)))
    img.SetSpacing(tuple(float(v) for v in (sp * f)[::-1]))
    img.SetDirection(tuple(float(v) for v in volume.direction))
    return img


def _method(
    levels: Sequence[int],
    sigmas_mm: Sequence[float],
    iterations: int,
    sampling: float,
    cancel: threading.Event | None = None,
):
    import SimpleITK as sitk

    reg = sitk.ImageRegistrationMethod()
    if cancel is not None:  # checked at every iteration: stops within one
        reg.AddCommand(sitk.sitkIterationEvent, lambda: cancel.is_set() and reg.StopRegistration())
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(sampling, seed=12345)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0,
        minStep=1e-3,
        numberOfIterations=iterations,
        relaxationFactor=0.6,
        gradientMagnitudeTolerance=1e-6,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(list(levels))
    reg.SetSmoothingSigmasPerLevel(list(sigmas_mm))
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    return reg


def _affine_matrix(transform) -> np.ndarray:
    """4 × 4 matrix of a SimpleITK matrix-offset transform (fixed → moving points)."""
    import SimpleITK as sitk

    t = sitk.AffineTransform(3)
    t.SetMatrix(transform.GetMatrix())
    t.SetCenter(transform.GetCenter())
    t.SetTranslation(transform.GetTranslation())
    a = np.asarray(t.GetMatrix(), float).reshape(3, 3)
    c = np.asarray(t.GetCenter(), float)
    tr = np.asarray(t.GetTranslation(), float)
    m = np.eye(4)
    m[:3, :3] = a
    m[:3, 3] = tr + c - a @ c
    return m


def _sitk_affine(matrix: np.ndarray, center: np.ndarray):
    import SimpleITK as sitk

    t = sitk.AffineTransform(3)
    a = matrix[:3, :3]
    t.SetMatrix(tuple(float(v) for v in a.ravel()))
    t.SetCenter(tuple(float(v) for v in center))
    t.SetTranslation(tuple(float(v) for v in matrix[:3, 3] - center + a @ center))
    return t


def register(fixed: Any, moving: Any, *, cancel: threading.Event | None = None) -> Registration:
    """Register ``moving`` to ``fixed`` (two CT series of one patient).

    Parameters
    ----------
    fixed, moving : recist_tool.dicom.Volume
        E.g. the baseline and a follow-up series.
    cancel : threading.Event, optional
        Set from another thread to stop the registration: it stops within one
        optimiser iteration (milliseconds) and raises :class:`RegistrationCancelled`.

    Returns
    -------
    Registration
        Maps fixed-series points to the moving series (:meth:`Registration.to_moving`)
        and back (:meth:`Registration.to_fixed`).

    Raises
    ------
    RegistrationError
        When a series is too small, uniform or has NaN voxels, or SimpleITK cannot
        register them.
    RegistrationCancelled
        When ``cancel`` was set.
    """
    import SimpleITK as sitk

    def stop_if_cancelled() -> None:
        if cancel is not None and cancel.is_set():
            raise RegistrationCancelled(
                f"registration of series {_uid(moving) or '?'} to {_uid(fixed) or '?'} cancelled"
            )

    t0 = time.perf_counter()
    stop_if_cancelled()
    f_img = _to_sitk(fixed, GLOBAL_MM)
    m_img = _to_sitk(moving, GLOBAL_MM)
    stages: list[dict[str, Any]] = []
    try:
        init = sitk.CenteredTransformInitializer(
            f_img + 1024.0,
            m_img + 1024.0,
            sitk.Euler3DTransform(),
            sitk.CenteredTransformInitializerFilter.MOMENTS,
        )
        rigid = _method([2, 1], [2.0 * GLOBAL_MM, 0.0], 200, 0.25, cancel)
        rigid.SetInitialTransform(init, inPlace=True)
        rigid.Execute(f_img, m_img)
        stop_if_cancelled()
        stages.append(
            {
                "stage": "rigid",
                "metric": rigid.GetMetricValue(),
                "iterations": rigid.GetOptimizerIteration(),
            }
        )
        affine_init = sitk.AffineTransform(3)
        affine_init.SetMatrix(init.GetMatrix())
        affine_init.SetCenter(init.GetCenter())
        affine_init.SetTranslation(init.GetTranslation())
        affine = _method([2, 1], [2.0 * GLOBAL_MM, 0.0], 200, 0.25, cancel)
        affine.SetInitialTransform(affine_init, inPlace=True)
        affine.Execute(f_img, m_img)
        stop_if_cancelled()
        metric = affine.GetMetricValue()
        stages.append(
            {"stage": "affine", "metric": metric, "iterations": affine.GetOptimizerIteration()}
        )
    except RuntimeError as exc:  # SimpleITK: e.g. no overlap of the two volumes
        raise RegistrationError(
            f"cannot register series {_uid(moving) or '?'} to {_uid(fixed) or '?'}: "
            f"{str(exc).strip().splitlines()[-1]}"
        ) from None
    return Registration(
        _affine_matrix(affine_init),
        _uid(fixed),
        _uid(moving),
        float(metric),
        time.perf_counter() - t0,
        stages=stages,
    )


def _local(fixed, moving, matrix: np.ndarray, point: np.ndarray, radius: float):
    """Rigid refinement of ``matrix`` on boxes around ``point`` (fixed) and its image
    (moving); returns the refined 4 × 4 matrix and the metric."""
    import SimpleITK as sitk

    def box(volume, centre, r, which):
        idx = np.asarray(volume.lps_to_index(centre), float)
        sp = np.asarray(volume.spacing_zyx, float)
        lo = np.floor(idx - r / sp)
        hi = np.floor(idx + r / sp) + 1
        shape = np.asarray(volume.shape)
        if not (np.all(np.isfinite(idx)) and np.all(hi > 0) and np.all(lo < shape)):
            raise RegistrationError(
                f"the {r:.0f} mm box around {tuple(round(float(v), 1) for v in centre)} "
                f"(LPS mm) lies outside the {which} series {_uid(volume) or '?'}: "
                "nothing to refine the registration by there"
            )
        return tuple(
            slice(int(max(0, a)), int(min(n, b))) for a, b, n in zip(lo, hi, shape, strict=True)
        )

    f_img = _to_sitk(fixed, LOCAL_MM, box(fixed, point, radius, "fixed"))
    m_img = _to_sitk(moving, LOCAL_MM, box(moving, _apply(matrix, point), radius * 1.5, "moving"))
    init = _sitk_affine(matrix, point)
    rigid = sitk.Euler3DTransform()
    rigid.SetCenter(tuple(float(v) for v in point))
    # SimpleITK applies the optimised transform first, then the moving initial one
    reg = _method([2, 1], [2 * LOCAL_MM, 0.0], 100, 0.5)
    reg.SetMovingInitialTransform(init)
    reg.SetInitialTransform(rigid, inPlace=True)
    try:
        reg.Execute(f_img, m_img)
    except RuntimeError:
        return matrix, float("nan")
    return matrix @ _affine_matrix(rigid), float(reg.GetMetricValue())


# ------------------------------------------------------------------------------ cache


class RegistrationCache:
    """Registrations per series pair: computed once, kept in memory and on disk.

    Parameters
    ----------
    directory : path-like, optional
        Where to keep them (one ``registration-<hash>.json`` per pair); memory only
        when None. When a registration cannot be written there (a read-only or full
        disk, a file in the folder's place), it is kept in memory for the session and
        a :class:`RegistrationCacheWarning` says so: the registration is not lost.

    Notes
    -----
    Thread-safe. :meth:`get` never computes; :meth:`compute` computes (once per pair,
    other threads asking for the same pair wait for it); :meth:`submit` computes in a
    background thread and returns a :class:`concurrent.futures.Future`; :meth:`close`
    cancels what is still running (an application closing does not wait for a
    registration). A registration of the pair the other way round is inverted rather
    than recomputed.
    """

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = None if directory is None else Path(directory)
        self._memory: dict[tuple[str, str], Registration] = {}
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], cf.Future] = {}
        self._executor: cf.ThreadPoolExecutor | None = None
        self._cancel = threading.Event()
        #: Why the last registration could not be written to ``directory`` (None
        #: when it was, or nothing was written yet).
        self.write_error: str | None = None

    @staticmethod
    def key(fixed_uid: str, moving_uid: str) -> tuple[str, str]:
        """The cache key of a pair."""
        return (str(fixed_uid), str(moving_uid))

    def _path(self, key: tuple[str, str]) -> Path | None:
        if self.directory is None:
            return None
        digest = hashlib.sha256("\0".join((*key, METHOD_VERSION)).encode()).hexdigest()[:24]
        return self.directory / f"registration-{digest}.json"

    def _load(self, key: tuple[str, str]) -> Registration | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("method_version") != METHOD_VERSION:
                return None
            reg = Registration.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError, RegistrationError):
            return None  # a damaged cache file is recomputed, never trusted
        if (reg.fixed_uid, reg.moving_uid) != key:
            return None
        return reg

    def _store(self, key: tuple[str, str], reg: Registration) -> None:
        self._memory[key] = reg
        path = self._path(key)
        if path is not None:
            from recist_tool._atomic import atomic_write_text

            try:
                atomic_write_text(path, json.dumps(reg.to_dict()) + "\n")
            except OSError as exc:  # a read-only or full disk: kept in memory only
                self.write_error = (
                    f"Registration of series {key[1]} to {key[0]} not kept on disk "
                    f"({path}: {exc.strerror or exc}); it is kept for this session only"
                )
                warnings.warn(self.write_error, RegistrationCacheWarning, stacklevel=2)

    def get(self, fixed_uid: str, moving_uid: str) -> Registration | None:
        """The registration of a pair if known (memory, disk, or the reverse pair)."""
        key = self.key(fixed_uid, moving_uid)
        with self._lock:
            if key in self._memory:
                return self._memory[key]
            reg = self._load(key)
            if reg is None:
                rev = self._memory.get(key[::-1]) or self._load(key[::-1])
                reg = None if rev is None else rev.inverse()
            if reg is not None:
                self._memory[key] = reg
            return reg

    def compute(self, fixed: Any, moving: Any) -> Registration:
        """The registration of ``moving`` to ``fixed``, computed when not known."""
        key = self.key(_uid(fixed), _uid(moving))
        if not all(key):
            raise RegistrationError("both series need a SeriesInstanceUID to be cached")
        known = self.get(*key)
        if known is not None:
            return known
        with self._lock:
            fut = self._pending.get(key)
            owner = fut is None
            if owner:
                fut = cf.Future()
                self._pending[key] = fut
        assert fut is not None
        if not owner:
            return fut.result()
        try:
            reg = register(fixed, moving, cancel=self._cancel)
            with self._lock:
                self._store(key, reg)
            fut.set_result(reg)
            return reg
        except BaseException as exc:
            fut.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._pending.pop(key, None)

    def submit(self, fixed: Any, moving: Any) -> cf.Future:
        """Compute (or fetch) the registration in a background thread."""
        with self._lock:
            if self._executor is None:
                self._executor = cf.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="recist-register"
                )
            executor = self._executor
        return executor.submit(self.compute, fixed, moving)

    def close(self) -> None:
        """Cancel the registrations still running (they raise
        :class:`RegistrationCancelled` within milliseconds, nothing is written) and
        wait for them to stop; the registrations known stay readable (:meth:`get`),
        and :meth:`compute` raises :class:`RegistrationCancelled` from now on."""
        self._cancel.set()
        with self._lock:
            executor, self._executor = self._executor, None
            running = list(self._pending.values())
        cf.wait(running)
        if executor is not None:
            executor.shutdown(wait=True)
