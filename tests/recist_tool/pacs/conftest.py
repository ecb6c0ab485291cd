"""Fixtures of the PACS tests: credentials, a client, scripted stub servers.

The real Orthanc (``orthanc``) is a session fixture of tests/conftest.py.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from recist_tool.pacs import PacsClient, PacsSettings

from ...conftest import PASSWORD, SAMPLE, USER  # noqa: F401  (re-exported)

ROOT = Path(__file__).resolve().parents[3]
# The Orthanc fixture (``orthanc``) is in tests/conftest.py: one server per worker,
# shared with the plugin's PACS dialog tests.


@pytest.fixture
def settings(orthanc) -> PacsSettings:
    return PacsSettings(orthanc.url, user=USER, password=PASSWORD, attempts=2, backoff=0.05)


@pytest.fixture
def client(settings):
    with PacsClient(settings) as c:
        yield c


@pytest.fixture
def pacs_env(monkeypatch, tmp_path):
    """Credentials through the environment, no config file of the user's."""
    monkeypatch.setenv("RECIST_PACS_USER", USER)
    monkeypatch.setenv("RECIST_PACS_PASSWORD", PASSWORD)
    monkeypatch.delenv("RECIST_PACS_TOKEN", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("RECIST_PACS_CONFIG", raising=False)


class StubServer:
    """A scripted HTTP server on loopback: answers (status, body) in turn, logs requests."""

    def __init__(self, answers, content_type="application/dicom+json"):
        self.answers = list(answers)
        self.requests: list[tuple[str, str, dict]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                stub.requests.append((self.command, self.path, dict(self.headers)))
                status, body = stub.answers.pop(0) if stub.answers else (200, b"[]")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/dicom-web"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
