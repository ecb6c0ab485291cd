"""Connection settings of a DICOMweb server: credentials, TLS, timeouts.

Credentials are looked up, first match wins:

1. arguments given in code (:class:`PacsSettings` fields);
2. environment: ``RECIST_PACS_TOKEN`` (bearer token) or ``RECIST_PACS_USER`` +
   ``RECIST_PACS_PASSWORD`` (HTTP basic); ``RECIST_PACS_CA_BUNDLE`` (a PEM file of
   trusted certificate authorities);
3. the config file ``$RECIST_PACS_CONFIG``, else ``$XDG_CONFIG_HOME/recist-tool/pacs.toml``
   (``~/.config/recist-tool/pacs.toml``): one ``[[server]]`` table per server, the
   one whose ``url`` is the longest prefix of the requested URL wins::

       [[server]]
       url = "https://pacs.example.org/dicom-web"
       user = "reader1"
       password = "..."          # or: token = "..."
       ca_bundle = "/etc/ssl/hospital-ca.pem"
       timeout = 60

   A config file holding a password or token must not be readable by others
   (``chmod 600``), as ssh and libpq require of theirs.

TLS certificates are always verified unless ``verify_tls`` is False (never the
default); ``ca_bundle`` adds a private certificate authority.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from recist_tool.pacs.errors import PacsError

ENV_USER = "RECIST_PACS_USER"
ENV_PASSWORD = "RECIST_PACS_PASSWORD"
ENV_TOKEN = "RECIST_PACS_TOKEN"
ENV_CA_BUNDLE = "RECIST_PACS_CA_BUNDLE"
ENV_CONFIG = "RECIST_PACS_CONFIG"

#: Seconds to wait for a connection, and between bytes of an answer.
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 60.0
#: Attempts of an idempotent request (GET) when the server is unreachable, times out
#: or answers 429/502/503/504; waits double from ``DEFAULT_BACKOFF`` seconds.
DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF = 0.5


@dataclass(frozen=True)
class PacsSettings:
    """How to talk to one DICOMweb server.

    Parameters
    ----------
    url : str
        Base URL of the DICOMweb service, e.g. ``http://localhost:8042/dicom-web``.
    user, password : str, optional
        HTTP basic authentication.
    token : str, optional
        Bearer token (``Authorization: Bearer …``); wins over user/password.
    verify_tls : bool
        Verify the server's TLS certificate (default True).
    ca_bundle : str, optional
        PEM file of certificate authorities to trust (a hospital's private CA).
    timeout : float
        Read timeout in seconds (the connect timeout is ``connect_timeout``).
    connect_timeout : float
    attempts : int
        Tries of an idempotent request (GET) before giving up.
    backoff : float
        First wait between tries in seconds (doubles each time).
    """

    url: str
    user: str | None = None
    password: str | None = None
    token: str | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None
    timeout: float = DEFAULT_READ_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    attempts: int = DEFAULT_ATTEMPTS
    backoff: float = DEFAULT_BACKOFF

    @property
    def auth_kind(self) -> str:
        """``"bearer"``, ``"basic"`` or ``"none"``."""
        if self.token:
            return "bearer"
        return "basic" if self.user else "none"

    def __repr__(self) -> str:  # never print secrets
        return (
            f"PacsSettings(url={self.url!r}, auth={self.auth_kind}, verify_tls={self.verify_tls}, "
            f"ca_bundle={self.ca_bundle!r}, timeout={self.timeout})"
        )


def config_path() -> Path:
    """The config file consulted: ``$RECIST_PACS_CONFIG`` or the XDG default."""
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "recist-tool" / "pacs.toml"


def _file_entry(url: str, path: Path) -> dict:
    """The ``[[server]]`` entry of ``path`` matching ``url`` (longest prefix), or {}."""
    if not path.is_file():
        if os.environ.get(ENV_CONFIG):
            raise PacsError(f"{path}: PACS config file ({ENV_CONFIG}) not found")
        return {}
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PacsError(f"{path}: cannot read the PACS config file ({exc})") from None
    servers = doc.get("server", [])
    if not isinstance(servers, list) or not all(isinstance(s, dict) for s in servers):
        raise PacsError(f"{path}: expected [[server]] tables, each with a url")
    best: dict = {}
    for i, s in enumerate(servers):
        if not isinstance(s.get("url"), str):
            raise PacsError(f"{path}: [[server]] number {i + 1} has no url")
        unknown = set(s) - {
            "url",
            "user",
            "password",
            "token",
            "ca_bundle",
            "timeout",
            "verify_tls",
        }
        if unknown:
            raise PacsError(f"{path}: [[server]] {s['url']}: unknown key(s) {sorted(unknown)}")
        for key, ok, what in _KEY_TYPES:
            if key in s and not ok(s[key]):
                raise PacsError(f"{path}: [[server]] {s['url']}: {key} must be {what}")
        if _norm(url).startswith(_norm(s["url"])) and len(s["url"]) > len(best.get("url", "")):
            best = s
    if best and (best.get("password") or best.get("token")):
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise PacsError(
                f"{path}: holds a password or token but others can read it: chmod 600 {path}"
            )
    return best


_KEY_TYPES = (
    *(
        (k, lambda v: isinstance(v, str), "text")
        for k in ("user", "password", "token", "ca_bundle")
    ),
    (
        "timeout",
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < 1e6,
        "a positive number of seconds",
    ),
    ("verify_tls", lambda v: isinstance(v, bool), "true or false"),
)


def _norm(url: str) -> str:
    return url.rstrip("/") + "/"


def resolve(settings: PacsSettings | str) -> PacsSettings:
    """Fill credentials and TLS settings not given from the environment and config file.

    Parameters
    ----------
    settings : PacsSettings or str
        What the caller knows (a bare URL is ``PacsSettings(url)``).

    Returns
    -------
    PacsSettings
    """
    s = PacsSettings(settings) if isinstance(settings, str) else settings
    if not s.url.startswith(("http://", "https://")):
        raise PacsError(f"{s.url}: not a DICOMweb URL (expected http:// or https://…)")
    entry = _file_entry(s.url, config_path())
    env = os.environ
    token = s.token or env.get(ENV_TOKEN) or None
    user = s.user or env.get(ENV_USER) or None
    password = s.password or env.get(ENV_PASSWORD) or None
    if not token and not user:
        token = entry.get("token")
        user = entry.get("user")
        password = password or entry.get("password")
    if user and password is None:
        raise PacsError(f"{s.url}: user {user!r} given without a password ({ENV_PASSWORD})")
    ca = s.ca_bundle or env.get(ENV_CA_BUNDLE) or entry.get("ca_bundle")
    if ca and not Path(ca).expanduser().is_file():
        raise PacsError(f"{ca}: CA bundle not found")
    timeout = s.timeout
    if "timeout" in entry and s.timeout == DEFAULT_READ_TIMEOUT:
        timeout = float(entry["timeout"])
    verify = s.verify_tls and bool(entry.get("verify_tls", True))
    return replace(
        s,
        token=token,
        user=user,
        password=password,
        ca_bundle=str(Path(ca).expanduser()) if ca else None,
        timeout=timeout,
        verify_tls=verify,
    )
