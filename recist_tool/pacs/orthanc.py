"""A throw-away local Orthanc with the DICOMweb plugin, for tests and demos.

Uses Debian's ``orthanc`` and ``orthanc-dicomweb`` packages (installed by
``scripts/setup.sh``). The server listens on a free port (Orthanc 1.10 binds every
interface; ``RemoteAccessAllowed: false`` refuses other hosts), keeps its database
in a folder of its own, has no DICOM (DIMSE) port, and is stopped by
:meth:`LocalOrthanc.stop` (or leaving the ``with`` block). It never touches the
Debian service on port 8042.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from recist_tool.pacs.errors import PacsError

PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


def orthanc_binary() -> str:
    """Path of the Orthanc executable, or a PacsError saying how to install it."""
    exe = shutil.which("Orthanc") or (
        "/usr/sbin/Orthanc" if os.path.exists("/usr/sbin/Orthanc") else None
    )
    if exe is None or not os.path.exists(PLUGIN):
        raise PacsError(
            "Orthanc with its DICOMweb plugin is not installed (Debian packages orthanc and "
            "orthanc-dicomweb): run scripts/setup.sh"
        )
    return exe


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalOrthanc:
    """Start an Orthanc on ``127.0.0.1:<free port>`` with its own storage folder.

    Parameters
    ----------
    storage : path-like, optional
        Database and files (default: a temporary folder, removed on stop).
    users : dict, optional
        ``{user: password}``: HTTP basic authentication on (default off).
    port : int, optional
        HTTP port (default: a free one).

    Attributes
    ----------
    url : str
        The DICOMweb root, ``http://127.0.0.1:<port>/dicom-web``.
    rest : str
        Orthanc's REST root, ``http://127.0.0.1:<port>``.
    """

    def __init__(
        self,
        storage: str | os.PathLike | None = None,
        users: dict[str, str] | None = None,
        port: int | None = None,
    ):
        self.users = dict(users or {})
        self._tmp = None if storage is not None else tempfile.mkdtemp(prefix="recist-orthanc-")
        self.storage = Path(storage if storage is not None else self._tmp)
        self.port = port
        self.proc: subprocess.Popen | None = None
        self.log = self.storage / "orthanc.log"

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.rest}/dicom-web"

    def config(self) -> dict:
        """The Orthanc configuration written for this server."""
        db = self.storage / "db"
        return {
            "Name": "recist-tool-local",
            "StorageDirectory": str(db),
            "IndexDirectory": str(db),
            "HttpPort": self.port,
            "DicomServerEnabled": False,
            "RemoteAccessAllowed": False,
            "SaveJobs": False,
            "AuthenticationEnabled": bool(self.users),
            "RegisteredUsers": self.users,
            "HttpTimeout": 60,
            "StableAge": 1,
            "Plugins": [PLUGIN],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }

    def start(self, timeout: float = 30.0) -> LocalOrthanc:
        """Start the server and wait until it answers (a few tries if a port was taken)."""
        exe = orthanc_binary()
        self.storage.mkdir(parents=True, exist_ok=True)
        fixed = self.port is not None
        for _ in range(1 if fixed else 3):
            if not fixed:
                self.port = free_port()
            cfg = self.storage / "orthanc.json"
            cfg.write_text(json.dumps(self.config(), indent=1))
            self.proc = subprocess.Popen(
                [exe, f"--logfile={self.log}", str(cfg)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            if self._wait_ready(timeout):
                return self
            self.stop(remove=False)
        raise PacsError(
            f"Orthanc did not start on port {self.port}: see {self.log}\n{self.log_tail()}"
        )

    def _wait_ready(self, timeout: float) -> bool:
        import requests

        auth = next(iter(self.users.items()), None)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                r = requests.get(f"{self.rest}/system", auth=auth, timeout=1)
                if r.status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.1)
        return False

    def log_tail(self, n: int = 15) -> str:
        """Last lines of the server's log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def upload(self, paths) -> int:
        """Store DICOM files (or folders) through Orthanc's REST ``POST /instances``; count."""
        import requests

        from recist_tool.pacs.push import dicom_files

        auth = next(iter(self.users.items()), None)
        n = 0
        with requests.Session() as s:
            s.auth = auth
            for f in dicom_files(paths):
                data = f.read_bytes()
                if data[128:132] != b"DICM":
                    continue  # not a DICOM Part 10 file (README, JSON, …)
                r = s.post(f"{self.rest}/instances", data=data, timeout=30)
                if r.status_code != 200:
                    raise PacsError(f"{f}: Orthanc refused it (HTTP {r.status_code})")
                n += 1
        return n

    def stop(self, remove: bool = True) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s); remove a temporary storage."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if remove and self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> LocalOrthanc:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _main(argv: list[str] | None = None) -> int:
    """``python -m recist_tool.pacs.orthanc start|stop --storage DIR`` (demos).

    ``start`` runs an Orthanc in the background, prints its DICOMweb URL and
    records its process id in ``DIR/orthanc.pid``; ``stop`` ends that process.
    """
    import argparse
    import signal

    ap = argparse.ArgumentParser(prog="python -m recist_tool.pacs.orthanc")
    ap.add_argument("action", choices=("start", "stop"))
    ap.add_argument("--storage", required=True, help="Folder of the server's database.")
    ap.add_argument("--port", type=int, default=None)
    args = ap.parse_args(argv)
    storage = Path(args.storage)
    pidfile = storage / "orthanc.pid"
    if args.action == "start":
        server = LocalOrthanc(storage, port=args.port).start()
        pidfile.write_text(f"{server.proc.pid}\n")
        server.proc = None  # keep it running after we exit
        print(server.url)
        return 0
    try:
        pid = int(pidfile.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return 0  # not running
    if "Orthanc" in cmdline and str(storage / "orthanc.json") in cmdline:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.1)
    pidfile.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
