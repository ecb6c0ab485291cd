"""Run the ``recist-tool`` command line in this process (as ``main()`` runs it:
a RecistError becomes ``error: …`` on stderr and its exit code), for tests that
need many runs; the subprocess tests keep checking the installed console script."""

from __future__ import annotations

import contextlib
import io
import sys


def run_cli(args: list[str], stdout: bool = False) -> tuple:
    """Exit code and stderr (and stdout when asked) of ``recist-tool ARGS`` in-process."""
    from recist_tool.cli import main

    err, out = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["recist-tool", *args]
    code = 0
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    return (code, err.getvalue(), out.getvalue()) if stdout else (code, err.getvalue())


def run_cli_captured(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run ``recist-tool ARGS`` in-process with pytest's fixtures: (exit code, stdout,
    stderr)."""
    from recist_tool.cli import main

    monkeypatch.setattr(sys, "argv", ["recist-tool", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err
