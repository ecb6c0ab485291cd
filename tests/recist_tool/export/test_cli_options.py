"""The export commands that read annotations with their images declare their shared
arguments once (sr, seg, patient-report): the same words in every --help."""

from __future__ import annotations

import inspect

from recist_tool.cli import export


def test_shared_arguments_are_declared_once():
    shared = {
        "annotations": export._READINGS,
        "dicom": export._DICOM,
        "timepoint": export._TIMEPOINTS,
        "include_identity": export._IDENTITY,
    }
    for command in (export.sr, export.seg, export.patient_report):
        params = inspect.signature(command).parameters
        for name, declared in shared.items():
            if name in params:
                assert params[name].default is declared, (command.__name__, name)
    assert set(shared) <= set(inspect.signature(export.sr).parameters)
    assert set(shared) <= set(inspect.signature(export.seg).parameters)
