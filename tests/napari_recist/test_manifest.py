"""The npe2 manifest: valid, and every command it names exists and imports."""

from __future__ import annotations

import importlib
import subprocess
import sys

from napari_recist._session import PLUGIN
from npe2 import PluginManifest


def _manifest() -> PluginManifest:
    return PluginManifest._from_package_or_name(PLUGIN)


def test_npe2_validate_passes():
    out = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", PLUGIN, "--imports"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in out.stdout


def test_every_command_named_exists_and_imports():
    mf = _manifest()
    commands = {c.id: c for c in mf.contributions.commands}
    named = [r.command for r in mf.contributions.readers]
    named += [w.command for w in mf.contributions.widgets]
    named += [s.command for s in mf.contributions.sample_data]
    named += [item.command for items in mf.contributions.menus.values() for item in items]
    assert len(named) >= 5
    for cmd in named:
        assert cmd in commands, f"{cmd} is used but not declared under commands"
    for cmd in commands.values():
        module, _, attr = cmd.python_name.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), cmd.python_name


def test_menus_exist_in_napari_and_hold_the_widget():
    from napari._app_model.constants._menus import is_menu_contributable

    mf = _manifest()
    widget = mf.contributions.widgets[0]
    assert widget.display_name == "RECIST measurement"
    assert set(mf.contributions.menus) == {"napari/layers/measure", "napari/layers/annotate"}
    for menu_id, items in mf.contributions.menus.items():
        assert is_menu_contributable(menu_id), menu_id
        assert [i.command for i in items] == [widget.command]


def test_reader_claims_folders_and_dicom_files():
    reader = _manifest().contributions.readers[0]
    assert reader.accepts_directories
    assert "*.dcm" in reader.filename_patterns
