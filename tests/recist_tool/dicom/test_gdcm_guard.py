"""A stray ``dl`` folder in the working directory must not break python-gdcm."""

from __future__ import annotations

import subprocess
import sys


def test_dl_folder_does_not_break_the_loader(tmp_path):
    (tmp_path / "dl").mkdir()  # python-gdcm runs `import dl` and uses dl.RTLD_NOW
    code = (
        "import recist_tool.dicom\n"
        "from pydicom.pixels import get_decoder\n"
        "from pydicom.uid import JPEGLosslessSV1\n"
        "print('gdcm' in get_decoder(JPEGLosslessSV1).available_plugins)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "True"
