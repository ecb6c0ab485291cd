"""Pull studies from a DICOMweb server into a local cache (WADO-RS), resumably.

Layout of a cache folder (any folder; a cohort uses ``COHORT_DIR/cache``)::

    <cache>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm
    <cache>/<StudyInstanceUID>/study.json      # what was pulled, from where, complete?

Every instance is checked before it is kept — it must parse as DICOM, carry the
SOP Instance UID the server listed and the study's and series' UIDs, and an image
must hold its pixel data — both when it arrives and when a later pull finds it in
the cache; a cached file that fails the check is fetched again. A pull that stops
(network, Ctrl+C, crash) leaves only complete files behind (each is written to a
hidden temporary file and renamed), so the next pull fetches only what is missing.
Reading from the cache afterwards needs no server: the folders are plain DICOM.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recist_tool._atomic import atomic_write_text
from recist_tool.pacs.client import PacsClient, redact
from recist_tool.pacs.errors import PacsError, PullCancelled

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

INDEX_NAME = "study.json"
INDEX_FORMAT = "recist-tool-pacs-cache"
#: Tries per series when the connection breaks while streaming (each resumes).
SERIES_ATTEMPTS = 3
_NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}


@dataclass(frozen=True)
class PullProgress:
    """Progress of :func:`pull_study`, passed to its ``progress`` callback."""

    study_uid: str
    series_uid: str
    done: int  # instances in the cache and checked (fetched + already there)
    total: int  # instances of the study (of the chosen series)
    fetched: int  # fetched in this pull
    bytes_fetched: int


@dataclass
class PullResult:
    """What :func:`pull_study` did."""

    study_uid: str
    folder: Path
    total: int = 0
    fetched: int = 0
    already_cached: int = 0
    refetched: int = 0  # cached files that failed the check and were fetched again
    bytes_fetched: int = 0
    series_uids: list[str] = field(default_factory=list)


def _safe(uid: str) -> str:
    """A UID as a folder/file name (UIDs are digits and dots; anything else is replaced)."""
    name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in str(uid).strip())
    if not name or name.startswith("."):
        name = "_" + name
    return name


def study_folder(cache_dir: str | os.PathLike, study_uid: str) -> Path:
    """Folder of a study in a cache."""
    return Path(cache_dir) / _safe(study_uid)


def instance_path(cache_dir: str | os.PathLike, study: str, series: str, sop: str) -> Path:
    """Path of one cached instance."""
    return study_folder(cache_dir, study) / _safe(series) / f"{_safe(sop)}.dcm"


def check_dataset(ds: Dataset, sop_uid: str | None, study_uid: str, series_uid: str) -> str | None:
    """Why a retrieved or cached instance cannot be trusted, or None when it is fine."""
    got = str(ds.get("SOPInstanceUID", ""))
    if not got:
        return "no SOP Instance UID"
    if sop_uid is not None and got != sop_uid:
        return f"SOP Instance UID is {got}, expected {sop_uid}"
    if str(ds.get("StudyInstanceUID", "")) != study_uid:
        return f"belongs to study {ds.get('StudyInstanceUID', '?')}, expected {study_uid}"
    if str(ds.get("SeriesInstanceUID", "")) != series_uid:
        return f"belongs to series {ds.get('SeriesInstanceUID', '?')}, expected {series_uid}"
    if "Rows" in ds and not any(
        kw in ds for kw in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
    ):
        return "image without pixel data (truncated?)"
    if "PixelData" in ds and "Rows" in ds:
        meta = getattr(ds, "file_meta", None)
        ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
        if ts in _NATIVE:
            frames = int(ds.get("NumberOfFrames") or 1)
            need = (
                int(ds.Rows)
                * int(ds.Columns)
                * int(ds.get("SamplesPerPixel") or 1)
                * frames
                * int(ds.get("BitsAllocated") or 16)
                + 7
            ) // 8
            have = len(ds.PixelData)
            if have < need:
                return f"pixel data has {have} of {need} bytes (truncated)"
    return None


def check_bytes(data: bytes, sop_uid: str | None, study_uid: str, series_uid: str) -> str | None:
    """:func:`check_dataset` on a Part 10 file's bytes.

    Uncompressed images go through the loader's fast header reader (~0.1 ms: UIDs and
    the pixel data's length against Rows × Columns × frames); anything else is parsed
    completely by pydicom.
    """
    from recist_tool.dicom.decoders import NATIVE_SYNTAXES
    from recist_tool.dicom.fastheader import read_fast
    from recist_tool.dicom.headers import _from_fast

    try:
        res = read_fast(io.BytesIO(data))
        hdr = _from_fast("<instance>", res, len(data)) if res is not None else None
    except (EOFError, ValueError, KeyError, IndexError) as exc:
        return f"unreadable ({type(exc).__name__}: {exc})"
    if hdr is None or hdr.transfer_syntax not in NATIVE_SYNTAXES:
        import warnings

        ds, problem = _parse(data)
        if problem:
            return problem
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # invalid values are reported by the loader
                return check_dataset(ds, sop_uid, study_uid, series_uid)
        except Exception as exc:  # pydicom decodes elements lazily: damage surfaces here
            return f"unreadable ({type(exc).__name__}: {exc})"
    if sop_uid is not None and hdr.sop_instance_uid != sop_uid:
        return f"SOP Instance UID is {hdr.sop_instance_uid}, expected {sop_uid}"
    if hdr.study_instance_uid != study_uid:
        return f"belongs to study {hdr.study_instance_uid}, expected {study_uid}"
    if hdr.series_instance_uid != series_uid:
        return f"belongs to series {hdr.series_instance_uid}, expected {series_uid}"
    return hdr.problem


def _parse(data: bytes):
    """(dataset, None) or (None, why it cannot be parsed)."""
    import warnings

    from pydicom import dcmread

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dcmread(io.BytesIO(data), force=data[128:132] != b"DICM"), None
    except Exception as exc:  # damaged data: pydicom raises many types
        return None, f"unreadable ({type(exc).__name__}: {exc})"


def check_file(path: Path, sop_uid: str, study_uid: str, series_uid: str) -> str | None:
    """Why a cached file cannot be trusted (see :func:`check_bytes`), or None."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    return check_bytes(data, sop_uid, study_uid, series_uid)


def _write(ds: Dataset | bytes, path: Path) -> int:
    """Write ``ds`` (a dataset, or a Part 10 file's bytes as the server sent them) to
    ``path`` via a hidden temporary file and a rename; bytes written.

    No fsync: a file torn by a power loss fails :func:`check_file` at the next pull
    and is fetched again, which keeps a pull as fast as the disk's write cache.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    try:
        with open(tmp, "wb") as fh:
            if isinstance(ds, bytes | bytearray | memoryview):
                fh.write(ds)
            else:
                ds.save_as(fh, enforce_file_format=True)
            n = fh.tell()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def read_index(cache_dir: str | os.PathLike, study_uid: str) -> dict[str, Any] | None:
    """The ``study.json`` of a cached study, or None (never pulled, or unreadable)."""
    p = study_folder(cache_dir, study_uid) / INDEX_NAME
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == INDEX_FORMAT else None


def pull_study(
    client: PacsClient,
    study_uid: str,
    cache_dir: str | os.PathLike,
    series_uids: Sequence[str] | None = None,
    modality: str | None = None,
    progress: Callable[[PullProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PullResult:
    """Fetch a study (or some of its series) into ``cache_dir``; resumable.

    Parameters
    ----------
    client : PacsClient
    study_uid : str
    cache_dir : path-like
        The cache root; the study goes to ``cache_dir/<StudyInstanceUID>/``.
    series_uids : sequence of str, optional
        Only these series (default: all).
    modality : str, optional
        Only series of this modality (e.g. ``CT``).
    progress : callable, optional
        Called with a :class:`PullProgress` after the cache check and after each
        instance.
    should_stop : callable, optional
        Polled between instances; when it returns True the pull stops with
        :class:`PullCancelled` (what was fetched stays in the cache).

    Returns
    -------
    PullResult

    Raises
    ------
    PacsError
        The study or a series is not on the server, the server fails, or instances
        stay missing or wrong after the retries.
    """
    record = client.study(study_uid)
    if record is None:
        raise PacsError(f"study {study_uid} not found on {redact(client.url)}", url=client.url)
    series = client.find_series(study_uid, modality=modality)
    known = {s.series_uid for s in series}
    if series_uids:
        unknown = [u for u in series_uids if u not in known]
        if unknown:
            raise PacsError(
                f"series {', '.join(unknown)} not in study {study_uid} on {redact(client.url)}",
                url=client.url,
            )
        series = [s for s in series if s.series_uid in set(series_uids)]
    if not series:
        what = f" of modality {modality}" if modality else ""
        raise PacsError(f"study {study_uid} has no series{what} on {redact(client.url)}")
    folder = study_folder(cache_dir, study_uid)
    result = PullResult(study_uid, folder, series_uids=[s.series_uid for s in series])
    counts = {s.series_uid: s.instance_count for s in series}

    def report(series_uid: str) -> None:
        if progress is not None:
            progress(
                PullProgress(
                    study_uid,
                    series_uid,
                    result.already_cached + result.fetched,
                    result.total,
                    result.fetched,
                    result.bytes_fetched,
                )
            )

    # 1. What the cache holds already (checked), what is missing. A series with
    # nothing cached is streamed whole without listing its instances first (the
    # listing costs the server more than the series' size suggests); the count the
    # server gave for the series is checked afterwards.
    expected: dict[str, list[str] | None] = {}
    missing: dict[str, set[str] | None] = {}
    for s in series:
        uid = s.series_uid
        sdir = folder / _safe(uid)
        if counts[uid] and not (sdir.is_dir() and any(sdir.glob("*.dcm"))):
            expected[uid] = missing[uid] = None  # everything
            continue
        expected[uid] = client.find_instances(study_uid, uid)
        todo = set()
        for sop in expected[uid]:
            p = instance_path(cache_dir, study_uid, uid, sop)
            if p.is_file():
                if check_file(p, sop, study_uid, uid) is None:
                    result.already_cached += 1
                    continue
                p.unlink()
                result.refetched += 1
            todo.add(sop)
        missing[uid] = todo
    result.total = sum(
        len(e) if e is not None else int(counts[u] or 0) for u, e in expected.items()
    )
    report(series[0].series_uid)

    # 2. Fetch: a whole series in one stream when most of it is missing, else one
    # instance at a time. A broken stream is resumed from what arrived.
    for s in series:
        uid = s.series_uid
        last: PacsError | None = None
        for _attempt in range(SERIES_ATTEMPTS):
            todo = missing[uid]
            if todo is not None and not todo:
                break
            got = 0
            try:
                exp = expected[uid]
                if todo is None or exp is None or len(todo) * 2 > len(exp):
                    got = _stream_series(
                        client,
                        study_uid,
                        uid,
                        todo,
                        cache_dir,
                        result,
                        lambda uid=uid: report(uid),
                        should_stop,
                    )
                else:
                    for sop in sorted(todo):
                        _stop(should_stop)
                        ds = client.retrieve_instance(study_uid, uid, sop)
                        _keep(ds, sop, study_uid, uid, cache_dir, result)
                        report(uid)
            except PullCancelled:
                raise
            except PacsError as exc:
                if exc.status is not None and exc.status not in (429, 502, 503, 504):
                    raise
                last = exc
            else:
                last = None
                if todo is None and got == counts[uid]:
                    missing[uid] = set()  # the whole series arrived, as many as announced
                    break
            if expected[uid] is None:
                expected[uid] = client.find_instances(study_uid, uid)
            missing[uid] = {
                sop
                for sop in expected[uid]
                if not instance_path(cache_dir, study_uid, uid, sop).is_file()
            }
        if missing[uid]:
            n_exp = len(expected[uid] or ()) or counts[uid]
            reason = f" (last error: {last})" if last is not None else ""
            raise PacsError(
                f"study {study_uid}, series {uid}: {len(missing[uid])} of "
                f"{n_exp} instance(s) could not be retrieved from "
                f"{redact(client.url)}{reason}; run the pull again to resume",
                url=client.url,
            )
    _write_index(client, record, series, expected, folder)
    return result


def _stop(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise PullCancelled("pull stopped; what was fetched stays in the cache")


def _keep(ds, sop, study_uid, series_uid, cache_dir, result: PullResult) -> None:
    problem = check_dataset(ds, sop, study_uid, series_uid)
    if problem:
        raise PacsError(f"study {study_uid}, series {series_uid}: instance {sop}: {problem}")
    p = instance_path(cache_dir, study_uid, series_uid, str(ds.SOPInstanceUID))
    result.bytes_fetched += _write(ds, p)
    result.fetched += 1


def _stream_series(client, study_uid, series_uid, todo, cache_dir, result, report, should_stop):
    """Stream a series into the cache; ``todo`` None: keep everything. Returns the count."""
    got = 0
    for part in client.iter_series(study_uid, series_uid):
        _stop(should_stop)
        sop = _sop_of(part)
        if (
            todo is not None
            and sop not in todo
            and sop
            and instance_path(cache_dir, study_uid, series_uid, sop).is_file()
        ):
            continue  # cached and checked already (an instance added since the search is kept)
        if part[128:132] == b"DICM":  # a Part 10 file: checked and kept as the server sent it
            problem = check_bytes(part, sop or None, study_uid, series_uid)
            if problem:
                raise PacsError(
                    f"study {study_uid}, series {series_uid}: instance {sop or '?'}: {problem}"
                )
            p = instance_path(cache_dir, study_uid, series_uid, sop)
            result.bytes_fetched += _write(part, p)
            result.fetched += 1
        else:  # a bare dataset: parsed, checked and written as a Part 10 file
            ds, problem = _parse(part)
            if problem:
                raise PacsError(f"study {study_uid}, series {series_uid}: {problem}")
            sop = str(ds.get("SOPInstanceUID", ""))
            _keep(ds, sop or None, study_uid, series_uid, cache_dir, result)
        if todo is not None:
            todo.discard(sop)
        got += 1
        report()
    return got


def _sop_of(part: bytes) -> str:
    """The SOP Instance UID of a Part 10 file's bytes ("" when not found fast)."""
    from recist_tool.dicom.fastheader import FastValues, read_fast

    try:
        res = read_fast(io.BytesIO(part))
    except (EOFError, ValueError, KeyError, IndexError):
        return ""
    return FastValues(res).text("SOPInstanceUID") if res is not None else ""


def _write_index(client, record, series, expected, folder: Path) -> None:
    doc = {
        "format": INDEX_FORMAT,
        "version": 1,
        "url": redact(client.url),
        "study_uid": record.study_uid,
        "patient_id": record.patient_id,
        "study_date": record.study_date,
        "description": record.description,
        "pulled_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "series": [
            {
                "series_uid": s.series_uid,
                "modality": s.modality,
                "series_number": s.series_number,
                "description": s.description,
                "instances": len(expected[s.series_uid] or ()) or s.instance_count,
            }
            for s in series
        ],
    }
    old = read_index(folder.parent, record.study_uid)
    if old:  # series pulled before (another --series) stay listed
        mine = {s["series_uid"] for s in doc["series"]}
        doc["series"] = [s for s in old.get("series", []) if s.get("series_uid") not in mine] + doc[
            "series"
        ]
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / INDEX_NAME, json.dumps(doc, indent=1) + "\n")
