"""Atomic file writing: a temporary file in the same folder, then ``os.replace``.

A crash or an exception while writing never leaves a half-written file behind,
and whatever was at the destination before stays intact until the rename. The
temporary file is ``.<name>.<pid>.<random>.tmp``: one that a killed process left
behind (its process is gone) is removed by the next write into that folder. A
failure to write (disk full, no permission) raises the ``OSError``; the command line
prints it without a traceback (exit code 2), and an output set
(:mod:`recist_tool._outputs`) turns it into an :class:`OutputError` saying that
nothing was written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from recist_tool.errors import RecistError


class OutputError(RecistError, OSError):
    """Results cannot be written (disk full, no permission, …); names the path."""

    def __init__(self, message: str, errno_: int | None = None) -> None:
        RecistError.__init__(self, message)
        self.errno = errno_
        self.strerror = message

    def __str__(self) -> str:
        return self.strerror


# .<name>.<pid>.<8 random characters>.tmp (this version) or .<name>.<8 random>.tmp (older)
_TMP = re.compile(r"^\.(?P<name>.+?)\.(?:(?P<pid>\d+)\.)?(?P<rand>[a-z0-9_]{8})\.tmp$")
#: A temporary file without a process id is stale after this many seconds.
LEGACY_TMP_AGE_S = 3600
_cleaned: set[str] = set()
_cleaned_lock = threading.Lock()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or cannot tell: keep its files
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files killed writers left in ``folder``.

    A ``.<name>.<pid>.<random>.tmp`` file whose process is gone, or one without a
    process id (older versions) next to ``<name>`` and older than
    :data:`LEGACY_TMP_AGE_S`. Returns the paths removed.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for e in entries:
        m = _TMP.match(e.name)
        if not m:
            continue
        try:
            if not e.is_file(follow_symlinks=False):
                continue
            if m["pid"] is not None:
                stale = not pid_alive(int(m["pid"]))
            else:  # older versions' names: only next to the file they were to replace
                stale = (
                    os.path.exists(os.path.join(folder, m["name"]))
                    and now - e.stat(follow_symlinks=False).st_mtime > LEGACY_TMP_AGE_S
                )
            if stale:
                os.unlink(e.path)
                removed.append(Path(e.path))
        except OSError:
            continue
    return removed


def _clean_once(folder: Path) -> None:
    key = os.fspath(folder)
    with _cleaned_lock:
        if key in _cleaned:
            return
        _cleaned.add(key)
    remove_stale_temporaries(folder)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file next to ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path : path-like
        Final destination.
    mode : str
        ``"w"`` (text, UTF-8, ``newline=""`` unless given) or ``"wb"``.

    Raises
    ------
    OSError
        When the file cannot be written (disk full, no permission, a folder in the
        way); the destination keeps what it held. :func:`describe_os_error` words it
        for a person; an output set turns it into an :class:`OutputError`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_once(path.parent)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would,
        # or keep the mode of the file it replaces.
        try:
            mode_bits = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode_bits = 0o666 & ~_UMASK
        os.chmod(tmp, mode_bits)
        if "b" not in mode:
            kwargs.setdefault("encoding", "utf-8")
            kwargs.setdefault("newline", "")
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def describe_os_error(exc: OSError) -> str:
    """``<file>: <what went wrong>`` in words for a person (a full disk said so)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "the disk is full"
    elif exc.errno == errno.EISDIR:
        what = "a folder of that name is in the way"
    else:
        what = exc.strerror or str(exc)
    return f"{exc.filename}: {what}" if exc.filename else what


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once: os.umask can only be read by setting it, which is not thread-safe.
_UMASK = _umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w") as fh:
        fh.write(text)
