"""Fixtures shared by the core's and the plugin's tests."""

import os
from pathlib import Path

import pytest

# Never let a test open a real window outside Xvfb, nor pick a GUI matplotlib backend.
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_dicom"
#: Credentials of the test Orthanc (HTTP basic authentication).
USER, PASSWORD = "reader1", "s3cret-pw"


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    """A real Orthanc (Debian's orthanc + orthanc-dicomweb) with the sample study.

    One server per test session (per xdist worker), for the PACS tests of the core and
    of the plugin: HTTP basic authentication on, a free loopback port, a temporary
    storage folder. Never skipped: without Orthanc the fixture fails and says how to
    install it.
    """
    from recist_tool.pacs.orthanc import LocalOrthanc

    server = LocalOrthanc(tmp_path_factory.mktemp("orthanc"), users={USER: PASSWORD})
    server.start()
    try:
        assert server.upload([SAMPLE]) == 82
        yield server
    finally:
        server.stop()
    assert server.proc is None
