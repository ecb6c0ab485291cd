"""``--help`` texts: paragraphs reflow to the terminal's width.

typer (≥ 0.16) keeps a docstring's single line breaks; at 80 columns every source
line longer than the panel broke twice ("…each its" / "own study)"). The help of
every command and group now has its paragraphs joined (list items on their own lines).
"""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from recist_tool.cli import app, reflow


def _commands(cmd, path: tuple[str, ...] = ()):
    yield path, cmd
    if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
        for name, sub in cmd.commands.items():
            yield from _commands(sub, (*path, name))


def test_every_help_paragraph_is_one_line_but_list_items():
    root = typer.main.get_command(app)
    seen = 0
    for path, cmd in _commands(root):
        for para in (cmd.help or "").split("\n\n"):
            lines = para.splitlines()
            assert all(line[:2] in ("- ", "* ") or line[:1].isdigit() for line in lines[1:]), (
                path,
                para,
            )
        seen += 1
    assert seen > 30


def test_reflow_keeps_list_items_and_raw_paragraphs():
    text = """First line
    goes on.

    - an item
      continued
    - another

    \bkept
    as is"""
    assert reflow(text) == (
        "First line goes on.\n\n- an item continued\n- another\n\n\bkept\nas is"
    )


def test_an_80_column_help_has_no_broken_lines():
    r = CliRunner().invoke(app, ["synth", "studies", "--help"], env={"COLUMNS": "80"})
    assert r.exit_code == 0
    assert "each its own study" in " ".join(r.output.split())
    assert "\n │ CT." not in r.output and " its\n" not in r.output
