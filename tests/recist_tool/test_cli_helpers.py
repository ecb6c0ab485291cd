"""The in-process CLI runner exists once (tests/recist_tool/cli_helpers.py)."""

from __future__ import annotations

from tests.recist_tool import cli_helpers
from tests.recist_tool.readers import conftest as readers_conftest
from tests.recist_tool.survival import test_cli as survival_cli


def test_one_in_process_runner(monkeypatch, capsys):
    assert readers_conftest.run_cli is cli_helpers.run_cli_captured
    assert survival_cli.run_cli_captured is cli_helpers.run_cli_captured
    assert not hasattr(survival_cli, "_cli")
    code, out, err = cli_helpers.run_cli_captured(monkeypatch, capsys, "--help")
    assert code == 0 and "survival" in out and err == ""
