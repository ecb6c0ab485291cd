"""The ``recist-tool`` command line.

Each subcommand group lives in its own module of this package and exposes
``register(app)``; heavy libraries are imported inside the commands so that
``recist-tool --help`` stays fast.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys

import typer

from recist_tool import __version__
from recist_tool.errors import RecistError

# Modules that each add their commands to the app, in --help order.
COMMAND_MODULES = (
    "batch",
    "dicom",
    "synth",
    "survival",
    "export",
    "readers",
    "pacs",
    "worklist",
)

app = typer.Typer(
    name="recist-tool",
    help="Measure lesions on CT, compute RECIST 1.1 response, and link it to survival.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish)
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"recist-tool {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Measure lesions on CT, compute RECIST 1.1 response, and link it to survival."""


for _name in COMMAND_MODULES:
    if importlib.util.find_spec(f"recist_tool.cli.{_name}") is not None:
        importlib.import_module(f"recist_tool.cli.{_name}").register(app)

#: A line that starts an item of a list (kept on a line of its own).
_ITEM = re.compile(r"^(?:[-*•]|\d+[.)])\s")


def reflow(text: str) -> str:
    """A docstring's paragraphs with their single line breaks joined, as ``--help``
    shows them: typer (≥ 0.16) keeps the source's line breaks, which on an
    80-column terminal wrapped each long source line a second time. A line that
    starts a list item (``-``, ``*``, ``1.``) starts a line of its own; a paragraph
    that starts with ``\b`` is kept as written (as click does)."""
    out = []
    for para in inspect.cleandoc(text).split("\n\n"):
        if para.startswith("\b"):
            out.append(para)
            continue
        lines: list[str] = []
        for line in para.splitlines():
            if lines and not _ITEM.match(line.strip()):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line.strip())
        out.append("\n".join(lines))
    return "\n\n".join(out)


def _reflow_help(typer_app: typer.Typer) -> None:
    """Reflow the help text of every command and group of ``typer_app``."""
    for info in typer_app.registered_commands:
        text = info.help or (inspect.getdoc(info.callback) if info.callback else None)
        if text:
            info.help = reflow(text)
    for group in typer_app.registered_groups:
        sub = group.typer_instance
        if sub is not None:
            if sub.info.help:
                sub.info.help = reflow(sub.info.help)
            _reflow_help(sub)


_reflow_help(app)


def main() -> None:
    """Entry point of the ``recist-tool`` command (callable in-process too).

    Bad input (a :class:`RecistError`) and a file that cannot be read or written (an
    ``OSError``: disk full, no permission) are a message on stderr and exit code 2,
    never a traceback.
    """
    try:
        app()
    except RecistError as exc:
        _print_error(str(exc))
        sys.exit(exc.exit_code)
    except OSError as exc:
        from recist_tool._atomic import describe_os_error

        _print_error(describe_os_error(exc))
        sys.exit(2)


def console() -> None:
    """The ``recist-tool`` console script: :func:`main` in a process of its own.

    Once Apache Arrow's native thread pools were used, the interpreter's teardown can
    abort in them ("terminate called without an active exception", SIGABRT:
    apache/arrow#34314), turning a finished run into exit code -6. Every output is
    complete and closed when :func:`main` returns, so the process ends right there,
    after flushing its streams.
    """
    try:
        main()
        code = 0
    except SystemExit as exc:  # typer ends every command this way
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    if "pyarrow" not in sys.modules:
        sys.exit(code)
    import contextlib
    import logging
    import os

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to flush
            stream.flush()
    os._exit(code)


def _print_error(text: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, soft_wrap=True).print(
        f"[bold red]error:[/] {escape(text)}", highlight=False
    )
