"""Output sets: the files of one run appear in their folder all at once, or not at all.

Every command that writes a folder of results (``batch``, ``survival``, every
``export``) writes through :func:`output_set`:

1. the run writes its files into a private staging folder next to the output
   folder (``.<name>.recist-<pid>-<token>.stage``, same file system);
2. a manifest, ``recist-run.json``, is added to it: a run id, the command, and the
   size and SHA-256 of every file of the run;
3. files of the output folder that no recist-tool run wrote there (they are not in
   its previous manifest) are hard-linked into the staging folder, so they stay;
4. the staging folder and the output folder are swapped in one step
   (``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere two renames, which a later
   run repairs if it was interrupted between them), and the previous set is removed.

Where the folder cannot be swapped — it holds the working directory (``-o .``), or
its parent is not writable — the set is staged inside it and moved in file by file,
under a manifest that says ``incomplete`` until the last file is in place: then the
files do not appear at once, but no reader accepts the folder before they all have.

So the folder holds the previous run's complete set up to the swap and this run's
complete set after it: a ``kill -9``, a full disk or an error part way leaves it as
it was (and the next run removes the staging folder left behind). A full disk or
an unwritable folder is an :class:`OutputError` (exit code 2) that says nothing was
written. Readers of a result folder call :func:`check_output_set`, which refuses a
folder whose files no longer match its manifest (edited, or copied from another run).
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
from pathlib import Path

from recist_tool import __version__
from recist_tool._atomic import OutputError, pid_alive, remove_stale_temporaries

#: Name of the manifest written into every output folder.
MANIFEST = "recist-run.json"
MANIFEST_FORMAT = "recist-tool output set"
_IN_PLACE = re.compile(r"^\.recist-(?P<pid>\d+)-[0-9a-f]{8}\.stage$")
_STAGING = re.compile(r"^\.(?P<name>.+)\.recist-(?P<pid>\d+)-[0-9a-f]{8}\.(?P<what>stage|old)$")


def output_set(outdir: str | os.PathLike, kind: str):
    """Context manager: a staging folder whose files replace ``outdir``'s set at once.

    Parameters
    ----------
    outdir : path-like
        The output folder (created when missing; its parent too).
    kind : str
        What wrote the set (``"batch"``, ``"survival"``, ``"export tables"`` …),
        recorded in the manifest. A folder holding another kind's set is refused: a
        run replaces only a previous set of its own kind.

    Yields
    ------
    pathlib.Path
        The staging folder: write every file of the run into it (sub-folders too).
        Paths inside it map to the same relative paths in ``outdir``.

    Raises
    ------
    OutputError
        When the set cannot be written (disk full, no permission, a folder where a
        file of the set goes …); ``outdir`` is then unchanged.
    """
    return _OutputSet(Path(outdir), kind)


class _OutputSet(contextlib.AbstractContextManager):
    def __init__(self, outdir: Path, kind: str) -> None:
        # The folder itself, not a symbolic link to it: the link must keep pointing there.
        self.outdir = Path(os.path.realpath(os.path.abspath(outdir)))
        self.kind = kind
        self.stage: Path | None = None
        self.in_place = False
        self.known: dict[str, tuple[int, str]] = {}

    def record(self, rel: str, size: int, sha256: str) -> None:
        """The size and SHA-256 of a file of the set, known to its writer (hashed while
        written): the manifest takes them instead of reading the file again."""
        self.known[rel] = (size, sha256)

    def __enter__(self) -> Path:
        out = self.outdir
        try:
            if out.exists() and not out.is_dir():
                raise OutputError(f"{out}: exists and is not a folder; give an output folder")
            out.parent.mkdir(parents=True, exist_ok=True)
            _repair(out)
            old = read_manifest(out) if out.is_dir() else None
            if old is not None and old.get("kind") != self.kind:
                # A run replaces the previous set of its own kind; another command's
                # results (e.g. a batch run's, read by this export) are not removed.
                raise OutputError(
                    f"{out}: holds the results of '{old.get('kind')}' (run "
                    f"{old.get('run_id')}); write the results of '{self.kind}' into another "
                    f"folder (nothing was written)"
                )
            token = secrets.token_hex(4)
            # Swapping a folder that holds the working directory would leave the shell
            # in a removed folder: then the set is written in place (see _publish_in_place).
            self.in_place = _holds_cwd(out)
            if not self.in_place:
                self.stage = out.parent / f".{out.name}.recist-{os.getpid()}-{token}.stage"
                try:
                    self.stage.mkdir()
                except PermissionError:  # the parent is not ours to write: in place
                    self.in_place = True
            if self.in_place:
                out.mkdir(exist_ok=True)
                self.stage = out / f".recist-{os.getpid()}-{token}.stage"
                self.stage.mkdir()
        except OSError as exc:
            if isinstance(exc, OutputError):
                raise
            raise _output_error(out, None, exc) from exc
        return self.stage

    def __exit__(self, exc_type, exc, tb) -> bool:
        stage = self.stage
        assert stage is not None
        if exc is not None:
            shutil.rmtree(stage, ignore_errors=True)
            if _from_the_os(exc):
                raise _output_error(self.outdir, stage, exc) from exc
            return False
        try:
            _publish(stage, self.outdir, self.kind, self.in_place, self.known)
        except BaseException as err:
            shutil.rmtree(stage, ignore_errors=True)
            if _from_the_os(err):
                raise _output_error(self.outdir, stage, err) from err
            raise
        return False


def _from_the_os(exc: BaseException) -> bool:
    """An OSError from writing (not one of this module's own OutputErrors)."""
    return isinstance(exc, OSError) and not isinstance(exc, OutputError)


def _output_error(outdir: Path, stage: Path | None, exc: OSError) -> OutputError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "the disk is full"
    else:
        what = exc.strerror or str(exc)
    where = ""
    if exc.filename:
        name = Path(str(exc.filename))
        if stage is not None and name.is_relative_to(stage):
            name = name.relative_to(stage)  # the run's file, not the staging folder
        where = f" ({name})"
    return OutputError(
        f"{outdir}: cannot write the results: {what}{where}; nothing was written, the "
        "folder holds what it held before",
        errno_=exc.errno,
    )


# --------------------------------------------------------------------------- publishing


def _files(root: Path) -> list[str]:
    """Relative POSIX paths of every regular file under ``root``."""
    out = []
    for d, _dirs, names in os.walk(root):
        for n in names:
            out.append(Path(d, n).relative_to(root).as_posix())
    return sorted(out)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """The manifest of an output folder, or None when it has none (or an unreadable one)."""
    path = Path(folder) / MANIFEST
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == MANIFEST_FORMAT else None


def _holds_cwd(out: Path) -> bool:
    try:
        cwd = Path(os.getcwd()).resolve()
    except OSError:
        return False
    return cwd == out or out in cwd.parents


def _digest(path: Path, known: tuple[int, str] | None) -> dict:
    size = path.stat().st_size
    if known is not None and known[0] == size:
        return {"size": size, "sha256": known[1]}
    return {"size": size, "sha256": _sha256(path)}


def _publish(
    stage: Path,
    out: Path,
    kind: str,
    in_place: bool = False,
    known: dict[str, tuple[int, str]] | None = None,
) -> None:
    known = known or {}
    mine = [f for f in _files(stage) if f != MANIFEST]
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "run_id": f"{_dt.datetime.now(_dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(6)}",
        "kind": kind,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "software": f"recist-tool {__version__}",
        "command": [os.path.basename(sys.argv[0]), *sys.argv[1:]] if sys.argv else [],
        "files": {f: _digest(stage / f, known.get(f)) for f in mine},
    }
    if in_place:
        _publish_in_place(stage, out, mine, manifest)
        return
    if out.is_dir():
        _keep_foreign(out, stage, set(mine))
    _write_manifest(stage / MANIFEST, manifest)
    _fsync_tree(stage)
    _swap(stage, out)


def _write_manifest(path: Path, manifest: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _publish_in_place(stage: Path, out: Path, mine: list[str], manifest: dict) -> None:
    """Publish a set inside ``out`` itself, file by file (when the folder cannot be
    swapped: it holds the working directory, or its parent is not writable).

    Not all at once: the manifest first says the run is incomplete, so every reader
    refuses the folder until the last file is in place and the manifest is final.
    """
    for rel in mine:
        if (out / rel).is_dir():
            raise OutputError(
                f"{out / rel}: is a folder, where this run writes a file of that name; "
                "move it away (nothing was written)"
            )
    old = read_manifest(out)
    previous = set(old["files"]) if old else set()
    _write_manifest(out / MANIFEST, {**manifest, "incomplete": True})
    for rel in mine:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / rel, out / rel)
    for rel in previous - set(mine):
        with contextlib.suppress(OSError):
            (out / rel).unlink()
    _fsync_tree(out)
    _write_manifest(out / MANIFEST, manifest)
    _fsync_dir(out)
    shutil.rmtree(stage, ignore_errors=True)


def _keep_foreign(out: Path, stage: Path, mine: set[str]) -> None:
    """Hard-link into ``stage`` every file of ``out`` that no earlier run wrote.

    Files listed in ``out``'s manifest are the previous set: replaced. Anything
    else (the user's own files) is kept; a user's folder where this run writes a
    file is an error, before anything changes.
    """
    old = read_manifest(out)
    previous = set(old["files"]) if old else set()
    previous_dirs = {p.rsplit("/", i)[0] for p in previous for i in range(1, p.count("/") + 1)}
    for d, dirs, names in os.walk(out):
        rel_dir = Path(d).relative_to(out)
        for n in dirs:
            rel = (rel_dir / n).as_posix()
            if rel in mine:
                raise OutputError(
                    f"{out / rel}: is a folder, where this run writes a file of that name; "
                    "move it away (nothing was written)"
                )
            target = stage / rel
            if target.is_file():
                raise OutputError(f"{out / rel}: is a folder where this run writes a file")
            if os.path.islink(Path(d, n)):
                target.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    os.symlink(os.readlink(Path(d, n)), target)
                dirs.remove(n)  # a linked folder is kept as a link, not walked
                continue
            if rel not in previous_dirs:
                target.mkdir(parents=True, exist_ok=True)  # the user's (maybe empty) folder
        for n in names:
            rel = (rel_dir / n).as_posix()
            if rel == MANIFEST or rel in previous or rel in mine:
                continue  # the previous run's files, or replaced by this run's
            src, target = Path(d, n), stage / rel
            if target.exists() and target.is_dir():
                raise OutputError(f"{src}: is a file where this run writes a folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            if os.path.islink(src):
                os.symlink(os.readlink(src), target)
                continue
            try:
                os.link(src, target, follow_symlinks=False)
            except OSError as exc:
                if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    shutil.copy2(src, target)  # no hard link possible: a copy
                else:
                    raise


def _fsync_tree(root: Path) -> None:
    """Flush the directory entries of the staging folder (files are flushed when written)."""
    for d, _dirs, _names in os.walk(root):
        _fsync_dir(Path(d))


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    res = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if res == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False  # the file system cannot exchange: two renames instead
    raise OSError(err, os.strerror(err), str(b))


def _swap(stage: Path, out: Path) -> None:
    """Make ``stage`` the output folder; remove the previous set."""
    parent = out.parent
    if not out.exists():
        try:
            os.rename(stage, out)
            _fsync_dir(parent)
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise  # created meanwhile by another run: exchange below
    if _exchange(stage, out):
        _fsync_dir(parent)
        shutil.rmtree(stage, ignore_errors=True)  # now the previous set
        return
    old = stage.with_suffix(".old")
    os.rename(out, old)  # a crash here leaves OUT missing: _repair() puts it back
    os.rename(stage, out)
    _fsync_dir(parent)
    shutil.rmtree(old, ignore_errors=True)


def _repair(out: Path) -> None:
    """Clean what an interrupted run left next to ``out`` (its process is gone)."""
    parent = out.parent
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for e in entries:
        m = _STAGING.match(e.name)
        if not m or m["name"] != out.name or pid_alive(int(m["pid"])):
            continue
        path = Path(e.path)
        if m["what"] == "old" and not out.exists():
            os.rename(path, out)  # interrupted between the two renames: restore the set
            continue
        shutil.rmtree(path, ignore_errors=True)
    if out.is_dir():
        remove_stale_temporaries(out)
        with contextlib.suppress(OSError):
            for e in os.scandir(out):  # staging folders of interrupted in-place runs
                m = _IN_PLACE.match(e.name)
                if m and not pid_alive(int(m["pid"])):
                    shutil.rmtree(e.path, ignore_errors=True)


# --------------------------------------------------------------------------- reading


class MixedOutputError(OutputError):
    """A result folder's files do not all belong to the run its manifest names."""


def check_output_set(folder: str | os.PathLike, names: list[str] | None = None) -> dict | None:
    """Check that a result folder holds one run's files, as its manifest lists them.

    Parameters
    ----------
    folder : path-like
    names : list of str, optional
        The files the reader is about to read (default: every file of the manifest).

    Returns
    -------
    dict or None
        The manifest; None for a folder without one (written by hand or by an older
        version): it is read as it is.

    Raises
    ------
    MixedOutputError
        A listed file is missing, or its size or SHA-256 differs (changed since the
        run, or copied from another run); or a file to read is not in the set.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        return None
    files = manifest.get("files", {})
    run = manifest.get("run_id", "?")
    if manifest.get("incomplete"):
        raise MixedOutputError(
            f"{folder}: run {run} was interrupted while writing its files into this folder "
            f"({MANIFEST} says incomplete); run the command again"
        )
    for name in names if names is not None else list(files):
        info = files.get(name)
        path = folder / name
        if info is None:
            if path.exists():
                raise MixedOutputError(
                    f"{path}: not a file of run {run} ({MANIFEST} does not list it); "
                    "the folder holds files of different runs — run the command again"
                )
            continue
        try:
            size = path.stat().st_size
        except OSError:
            raise MixedOutputError(
                f"{path}: missing, but run {run} wrote it ({MANIFEST}); run the command again"
            ) from None
        if size != info.get("size") or _sha256(path) != info.get("sha256"):
            raise MixedOutputError(
                f"{path}: changed since run {run} wrote it (size or SHA-256 differ from "
                f"{MANIFEST}); the folder no longer holds one run's results — run the "
                "command again"
            )
    return manifest
