"""The ``recist-tool`` command line.

Each subcommand group lives in its own module of this package and exposes
``register(app)``; heavy libraries are imported inside the commands so that
``recist-tool --help`` stays fast.
"""

from __future__ import annotations

import importlib
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


def main() -> None:
    """Entry point of the ``recist-tool`` console script."""
    try:
        app()
    except RecistError as exc:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False
        )
        sys.exit(exc.exit_code)
