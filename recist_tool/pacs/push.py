"""Store DICOM files on a DICOMweb server (STOW-RS), and SRs into their images' study."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from recist_tool.pacs.client import PacsClient, iter_batches, redact
from recist_tool.pacs.errors import PacsError


@dataclass
class PushResult:
    """What :func:`push_files` stored."""

    stored: list[str] = field(default_factory=list)  # SOP Instance UIDs
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # not DICOM


def dicom_files(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Files given, and every regular file under folders given (hidden ones skipped)."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out += sorted(
                f
                for f in p.rglob("*")
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
        elif p.is_file():
            out.append(p)
        else:
            raise PacsError(f"{p}: no such file or folder")
    return out


def push_files(
    client: PacsClient,
    inputs: Sequence[str | os.PathLike],
    progress: Callable[[int, int], None] | None = None,
    strict: bool = False,
) -> PushResult:
    """Store every DICOM file of ``inputs`` on the server (STOW-RS, batched).

    Parameters
    ----------
    client : PacsClient
    inputs : sequence of path-like
        Files and folders (searched recursively).
    progress : callable, optional
        ``progress(done, total)`` after each batch, in files.
    strict : bool
        Stop on a file that is not DICOM (default: skip it and report it).

    Returns
    -------
    PushResult

    Raises
    ------
    PacsError
        When the server refuses a file or does not confirm storing it (naming the
        file), or when no DICOM file was given.
    """
    import warnings

    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    files = dicom_files(inputs)
    result = PushResult()

    def read(f: Path):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = dcmread(f)
        except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
            if strict:
                raise PacsError(f"{f}: not a readable DICOM file ({exc})") from None
            result.skipped.append((f, f"not a readable DICOM file ({type(exc).__name__})"))
            return None
        if "SOPInstanceUID" not in ds or "StudyInstanceUID" not in ds:
            result.skipped.append((f, "no SOP or Study Instance UID"))
            return None
        return ds

    done = 0
    # Batches by file size; files are parsed one batch at a time (memory stays bounded).
    for paths in iter_batches((f.stat().st_size, f) for f in files):
        batch = [(f, ds) for f in paths if (ds := read(f)) is not None]
        done += len(paths)
        if not batch:
            continue
        res = client.store([ds for _, ds in batch])
        by_uid = {str(ds.SOPInstanceUID): f for f, ds in batch}
        if res.failed:
            uid, why = res.failed[0]
            raise PacsError(
                f"{by_uid.get(uid, uid)}: {redact(client.url)} refused to store it ({why})"
                + (f"; {len(res.failed) - 1} more refused" if len(res.failed) > 1 else "")
            )
        stored = set(res.stored)
        missing = [f for uid, f in by_uid.items() if uid not in stored]
        if missing:
            raise PacsError(
                f"{missing[0]}: {redact(client.url)} did not confirm storing it"
                + (f" ({len(missing) - 1} more)" if len(missing) > 1 else "")
            )
        result.stored += list(by_uid)
        result.files += [f for f, _ in batch]
        if progress is not None:
            progress(done, len(files))
    if not result.stored:
        raise PacsError(f"no DICOM file to store in {', '.join(map(str, inputs))}")
    return result


def check_target_study(client: PacsClient, files: Sequence[str | os.PathLike]) -> None:
    """Refuse to store objects (SR, SEG) whose study is not on the server as the same patient.

    A derived object must land in the study of its images with their patient:
    the study must exist on the server and its PatientID must be the object's.

    Raises
    ------
    PacsError
        Naming the file, the study and the two patient IDs.
    """
    from pydicom import dcmread

    seen: dict[str, str] = {}
    for f in files:
        ds = dcmread(f, stop_before_pixels=True)
        study = str(ds.get("StudyInstanceUID", ""))
        pid = str(ds.get("PatientID", ""))
        if study not in seen:
            rec = client.study(study)
            if rec is None:
                raise PacsError(
                    f"{f}: its study {study} is not on {redact(client.url)}: an SR is stored "
                    "in the study of its images (push the images first, or check --dicom)"
                )
            seen[study] = rec.patient_id
        if seen[study] != pid:
            raise PacsError(
                f"{f}: PatientID {pid!r} differs from {seen[study]!r} of study {study} on "
                f"{redact(client.url)}: storing it would file it under another patient"
            )
