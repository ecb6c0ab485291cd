"""A DICOMweb client (QIDO-RS, WADO-RS, STOW-RS) on ``dicomweb-client``.

:class:`PacsClient` adds what a reading workstation needs around dicomweb-client:
credentials and TLS from :mod:`recist_tool.pacs.config`, timeouts, retries with
exponential backoff for idempotent requests only (searches and retrievals, never a
store), and one clear :class:`~recist_tool.pacs.errors.PacsError` per failure that
names the URL and the HTTP status.
"""

from __future__ import annotations

import contextlib
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from recist_tool.pacs.config import PacsSettings, resolve
from recist_tool.pacs.errors import PacsError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

T = TypeVar("T")

#: HTTP statuses worth another try of an idempotent request.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Accept the stored transfer syntax (no transcoding on the server).
ANY_SYNTAX = (("application/dicom", "*"),)
#: Results asked per QIDO-RS page. Paging stops at a short page or a page with
#: nothing new: Orthanc 1.10 ignores ``offset`` without ``limit`` when filtering on
#: ModalitiesInStudy, which made dicomweb-client's ``get_remaining`` loop forever.
QIDO_PAGE = 1000
QIDO_MAX_PAGES = 1000
#: Bytes per STOW-RS request (instances are grouped up to this size).
STOW_BATCH_BYTES = 64 << 20

_DATE_RE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")


@dataclass(frozen=True)
class StudyRecord:
    """One study found by :meth:`PacsClient.find_studies` (no patient name: not needed)."""

    study_uid: str
    patient_id: str
    study_date: str  # YYYY-MM-DD or ""
    study_time: str
    description: str
    modalities: tuple[str, ...]
    series_count: int | None
    instance_count: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly record."""
        return {
            "study_uid": self.study_uid,
            "patient_id": self.patient_id,
            "study_date": self.study_date,
            "study_time": self.study_time,
            "description": self.description,
            "modalities": list(self.modalities),
            "series_count": self.series_count,
            "instance_count": self.instance_count,
        }


@dataclass(frozen=True)
class SeriesRecord:
    """One series found by :meth:`PacsClient.find_series`."""

    series_uid: str
    study_uid: str
    modality: str
    series_number: int | None
    description: str
    instance_count: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly record."""
        return {
            "series_uid": self.series_uid,
            "study_uid": self.study_uid,
            "modality": self.modality,
            "series_number": self.series_number,
            "description": self.description,
            "instance_count": self.instance_count,
        }


@dataclass(frozen=True)
class StoreResult:
    """What a STOW-RS store did: SOP Instance UIDs stored, and failures with reasons."""

    stored: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]


def date_range(text: str | None) -> str | None:
    """A study-date filter as DICOM wants it (``YYYYMMDD``, ``A-B``, ``A-``, ``-B``).

    Accepts ``2024-01-01``, ``20240101``, ``2024-01-01..2024-03-31``, open ends
    (``2024-01-01..``, ``..2024-03-31``) and DICOM's own ``20240101-20240331``.
    """
    if text is None or not text.strip():
        return None
    t = text.strip()
    if ".." in t:
        lo, hi = t.split("..", 1)
    elif re.fullmatch(r"\d{8}-\d{8}|\d{8}-|-\d{8}", t):
        lo, hi = t.split("-", 1)
    else:
        lo, hi = t, None
    out = []
    for part in (lo, hi):
        if part is None:
            continue
        part = part.strip()
        if not part:
            out.append("")
            continue
        m = _DATE_RE.match(part)
        if not m:
            raise PacsError(
                f"study date {text!r}: expected YYYY-MM-DD, a range A..B (either end may be "
                "left open) or DICOM's YYYYMMDD-YYYYMMDD"
            )
        import datetime as dt

        try:
            dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise PacsError(f"study date {text!r}: {part} is not a calendar date") from None
        out.append(m[1] + m[2] + m[3])
    return out[0] if hi is None else f"{out[0]}-{out[1]}"


def _iso(da: str) -> str:
    m = _DATE_RE.match(da or "")
    return f"{m[1]}-{m[2]}-{m[3]}" if m else ""


def _value(item: dict, tag: str, default: Any = "") -> Any:
    values = item.get(tag, {}).get("Value")
    if not values:
        return default
    v = values[0]
    if isinstance(v, dict):  # person name
        return v.get("Alphabetic", default)
    return v


def _values(item: dict, tag: str) -> tuple:
    return tuple(str(v) for v in item.get(tag, {}).get("Value", []) or [])


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def redact(url: str) -> str:
    """The URL without user:password@ (never shown in messages)."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        parts = parts._replace(netloc=host)
    return urlunsplit(parts)


class PacsClient:
    """Search, retrieve and store DICOM objects on one DICOMweb server.

    Parameters
    ----------
    settings : PacsSettings or str
        The server's base URL (e.g. ``http://localhost:8042/dicom-web``) or full
        settings; missing credentials are taken from the environment and the config
        file (:func:`recist_tool.pacs.config.resolve`).

    Notes
    -----
    Searches (QIDO-RS) and retrievals (WADO-RS) are retried ``settings.attempts``
    times on connection failures, timeouts and HTTP 429/502/503/504, waiting
    ``backoff``, 2 × ``backoff``, … seconds (or the server's Retry-After, at most
    10 s). Stores (STOW-RS) are never retried: the caller decides.
    """

    def __init__(self, settings: PacsSettings | str):
        from dicomweb_client.api import DICOMwebClient

        self.settings = resolve(settings)
        s = self.settings
        self.url = s.url.rstrip("/")
        session = _Session()
        if s.token:
            session.headers["Authorization"] = f"Bearer {s.token}"
        elif s.user:
            session.auth = (s.user, s.password or "")
        session.verify = s.ca_bundle if (s.ca_bundle and s.verify_tls) else s.verify_tls
        try:
            self._client = DICOMwebClient(
                self.url, session=session, timeout=(s.connect_timeout, s.timeout)
            )
        except ValueError as exc:
            raise PacsError(f"{redact(self.url)}: {exc}", url=self.url) from None
        self._client.set_http_retry_params(retry=False)  # ours: idempotent requests only
        self.session = session

    def __repr__(self) -> str:
        return f"PacsClient({redact(self.url)!r}, auth={self.settings.auth_kind})"

    def close(self) -> None:
        """Close the HTTP connections."""
        self.session.close()

    def __enter__(self) -> PacsClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------- errors / retry

    def error(self, exc: BaseException, what: str) -> PacsError:
        """Turn an exception of requests / dicomweb-client into a :class:`PacsError`."""
        import requests

        s = self.settings
        url = self.url
        req = getattr(exc, "request", None)
        if req is not None and getattr(req, "url", None):
            url = req.url
        url = _shown(url)
        resp = getattr(exc, "response", None)
        if isinstance(exc, requests.HTTPError) and resp is not None:
            status = resp.status_code
            reason = resp.reason or ""
            hint = {
                401: "authentication failed: check RECIST_PACS_USER / RECIST_PACS_PASSWORD, "
                "RECIST_PACS_TOKEN or the config file",
                403: "access denied for these credentials",
                404: "not found: check the URL (its DICOMweb root, e.g. …/dicom-web) and the UIDs",
                413: "request too large for the server",
            }.get(status, "server error" if status >= 500 else "request refused")
            body = ""
            ctype = resp.headers.get("Content-Type", "")
            if resp.content and ("text" in ctype or "json" in ctype):
                body = " ".join(resp.text.split())[:200]
            msg = f"{what}: {url}: HTTP {status} {reason}: {hint}"
            if body:
                msg += f" (server said: {body})"
            return PacsError(msg, status=status, url=url)
        if isinstance(exc, requests.exceptions.SSLError):
            return PacsError(
                f"{what}: {url}: TLS certificate verification failed ({_short(exc)}); for a "
                "private certificate authority pass --ca-bundle FILE (or RECIST_PACS_CA_BUNDLE)",
                url=url,
            )
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return PacsError(
                f"{what}: {url}: no connection within {s.connect_timeout:g} s "
                "(server down or unreachable)",
                url=url,
            )
        if isinstance(exc, requests.exceptions.ReadTimeout | requests.exceptions.Timeout):
            return PacsError(
                f"{what}: {url}: the server did not answer within {s.timeout:g} s "
                "(slow or overloaded server; raise --timeout)",
                url=url,
            )
        if isinstance(exc, requests.exceptions.ChunkedEncodingError):
            return PacsError(f"{what}: {url}: connection lost while receiving data", url=url)
        if isinstance(exc, requests.exceptions.ConnectionError):
            return PacsError(
                f"{what}: {url}: cannot connect ({_short(exc)}): is the server running and "
                "the URL right?",
                url=url,
            )
        if isinstance(exc, requests.exceptions.RequestException):
            return PacsError(f"{what}: {url}: {_short(exc)}", url=url)
        return PacsError(f"{what}: {url}: unexpected answer ({type(exc).__name__}: {exc})", url=url)

    def _retryable(self, exc: BaseException) -> bool:
        import requests

        if isinstance(exc, requests.HTTPError):
            resp = exc.response
            return resp is not None and resp.status_code in RETRY_STATUSES
        if isinstance(exc, requests.exceptions.SSLError):
            return False
        return isinstance(
            exc,
            requests.exceptions.ConnectionError
            | requests.exceptions.Timeout
            | requests.exceptions.ChunkedEncodingError,
        )

    def _wait(self, attempt: int, exc: BaseException) -> float:
        wait = self.settings.backoff * (2**attempt)
        resp = getattr(exc, "response", None)
        if resp is not None:
            with contextlib.suppress(TypeError, ValueError):
                wait = float(resp.headers.get("Retry-After", wait))
        return min(max(wait, 0.0), 10.0)

    def call(self, what: str, fn: Callable[[], T], idempotent: bool = True) -> T:
        """Run one request with retries (idempotent only) and error translation."""
        import requests

        attempts = max(1, self.settings.attempts) if idempotent else 1
        for attempt in range(attempts):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    return fn()
            except PacsError:
                raise
            except (requests.RequestException, ValueError, KeyError, OSError) as exc:
                if attempt + 1 < attempts and self._retryable(exc):
                    time.sleep(self._wait(attempt, exc))
                    continue
                raise self.error(exc, what) from None
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------------- QIDO

    def _paged(
        self,
        what: str,
        fetch: Callable[[int, int], list[dict]],
        key: str,
        limit: int | None = None,
    ) -> list[dict]:
        """Every result of a search, page by page, without duplicates."""
        out: list[dict] = []
        seen: set[str] = set()
        offset = 0
        for _ in range(QIDO_MAX_PAGES):
            page = QIDO_PAGE if limit is None else min(QIDO_PAGE, limit - len(out))
            if page <= 0:
                break
            items = self.call(what, lambda page=page, offset=offset: fetch(page, offset))
            new = [it for it in items if str(_value(it, key)) not in seen]
            seen.update(str(_value(it, key)) for it in new)
            out += new
            if len(items) < page or not new:
                break
            offset += len(items)
        return out

    def find_studies(
        self,
        patient_id: str | None = None,
        study_date: str | None = None,
        modality: str | None = None,
        filters: dict[str, str] | None = None,
        limit: int | None = None,
    ) -> list[StudyRecord]:
        """Search studies (QIDO-RS), sorted by patient, date and time.

        Parameters
        ----------
        patient_id : str, optional
            PatientID (``*`` and ``?`` wildcards as the server supports them).
        study_date : str, optional
            A date or range, see :func:`date_range`.
        modality : str, optional
            Studies holding this modality (ModalitiesInStudy).
        filters : dict, optional
            Further QIDO attribute filters by DICOM keyword (e.g. ``StudyDescription``).
        limit : int, optional
            At most this many studies.
        """
        search: dict[str, str] = {}
        if patient_id:
            search["PatientID"] = patient_id
        rng = date_range(study_date)
        if rng:
            search["StudyDate"] = rng
        if modality:
            search["ModalitiesInStudy"] = modality.upper()
        for k, v in (filters or {}).items():
            search[k] = v
        fields = [
            "StudyDescription",
            "ModalitiesInStudy",
            "NumberOfStudyRelatedSeries",
            "NumberOfStudyRelatedInstances",
            "StudyTime",
        ]
        items = self._paged(
            "search studies",
            lambda lim, off: self._client.search_for_studies(
                fields=fields, search_filters=search, limit=lim, offset=off
            ),
            "0020000D",
            limit,
        )
        out = [
            StudyRecord(
                study_uid=str(_value(it, "0020000D")),
                patient_id=str(_value(it, "00100020")),
                study_date=_iso(str(_value(it, "00080020"))),
                study_time=str(_value(it, "00080030")),
                description=str(_value(it, "00081030")),
                modalities=_values(it, "00080061"),
                series_count=_int(_value(it, "00201206", None)),
                instance_count=_int(_value(it, "00201208", None)),
            )
            for it in items
        ]
        out = [r for r in out if r.study_uid]
        if modality:  # servers differ in how they match ModalitiesInStudy: check it
            out = [r for r in out if not r.modalities or modality.upper() in r.modalities]
        return sorted(out, key=lambda r: (r.patient_id, r.study_date, r.study_time, r.study_uid))

    def find_series(self, study_uid: str, modality: str | None = None) -> list[SeriesRecord]:
        """Series of a study (QIDO-RS), by series number."""
        search = {"Modality": modality.upper()} if modality else None
        fields = ["SeriesDescription", "SeriesNumber", "Modality", "NumberOfSeriesRelatedInstances"]
        items = self._paged(
            f"search series of study {study_uid}",
            lambda lim, off: self._client.search_for_series(
                study_uid, fields=fields, search_filters=search, limit=lim, offset=off
            ),
            "0020000E",
        )
        out = [
            SeriesRecord(
                series_uid=str(_value(it, "0020000E")),
                study_uid=str(_value(it, "0020000D", study_uid)) or study_uid,
                modality=str(_value(it, "00080060")),
                series_number=_int(_value(it, "00200011", None)),
                description=str(_value(it, "0008103E")),
                instance_count=_int(_value(it, "00201209", None)),
            )
            for it in items
        ]
        return sorted(
            (r for r in out if r.series_uid),
            key=lambda r: (r.series_number is None, r.series_number or 0, r.series_uid),
        )

    def find_instances(self, study_uid: str, series_uid: str) -> list[str]:
        """SOP Instance UIDs of a series (QIDO-RS)."""
        items = self._paged(
            f"search instances of series {series_uid}",
            lambda lim, off: self._client.search_for_instances(
                study_uid, series_uid, fields=["SOPInstanceUID"], limit=lim, offset=off
            ),
            "00080018",
        )
        return [str(_value(it, "00080018")) for it in items if _value(it, "00080018")]

    def study(self, study_uid: str) -> StudyRecord | None:
        """The study with this UID, or None when the server does not have it."""
        found = self.find_studies(filters={"StudyInstanceUID": study_uid})
        return next((r for r in found if r.study_uid == study_uid), None)

    # ------------------------------------------------------------------------- WADO

    def iter_series(self, study_uid: str, series_uid: str) -> Iterator[bytes]:
        """Stream every instance of a series (WADO-RS) as the server's bytes.

        Each item is one instance as sent (a DICOM Part 10 file from Orthanc and most
        servers), in its stored transfer syntax (``transfer-syntax=*``): a cache keeps
        the server's bytes unchanged, and nothing is re-encoded. The multipart answer
        is split by dicomweb-client's decoder. Errors while streaming are raised as
        :class:`PacsError`; the caller resumes (see
        :func:`recist_tool.pacs.cache.pull_study`).
        """
        import requests

        what = f"retrieve series {series_uid}"
        url = f"{self.url}/studies/{_uid(study_uid)}/series/{_uid(series_uid)}"
        s = self.settings

        def get():
            r = self.session.get(
                url,
                headers={
                    "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'
                },
                stream=True,
                timeout=(s.connect_timeout, s.timeout),
            )
            r.raise_for_status()
            return r

        resp = self.call(what, get)
        if resp.headers.get("Content-Type", "").startswith("application/dicom"):
            yield resp.content  # a single part sent bare (tolerated by dicomweb-client too)
            return
        # dicomweb-client's streaming multipart decoder (handles boundaries across chunks)
        parts = self._client._decode_multipart_message(resp, stream=True)
        while True:
            try:
                part = next(parts)
            except StopIteration:
                return
            except (requests.RequestException, ValueError, OSError) as exc:
                raise self.error(exc, what) from None
            yield bytes(part)

    def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> Dataset:
        """One instance (WADO-RS), in its stored transfer syntax."""
        return self.call(
            f"retrieve instance {sop_uid}",
            lambda: self._client.retrieve_instance(
                study_uid, series_uid, sop_uid, media_types=ANY_SYNTAX
            ),
        )

    # ------------------------------------------------------------------------- STOW

    def store(self, datasets: Sequence[Dataset], study_uid: str | None = None) -> StoreResult:
        """Store instances (STOW-RS, one request; never retried).

        Returns
        -------
        StoreResult
            Stored SOP Instance UIDs (as the server confirmed them) and failures.
        """
        if not datasets:
            return StoreResult((), ())
        what = f"store {len(datasets)} instance(s)"
        resp = self.call(
            what,
            lambda: self._client.store_instances(list(datasets), study_instance_uid=study_uid),
            idempotent=False,
        )
        stored = tuple(
            str(item.get("ReferencedSOPInstanceUID", ""))
            for item in resp.get("ReferencedSOPSequence", []) or []
        )
        failed = tuple(
            (
                str(item.get("ReferencedSOPInstanceUID", "")),
                f"failure reason {item.get('FailureReason', '?')}",
            )
            for item in resp.get("FailedSOPSequence", []) or []
        )
        return StoreResult(stored, failed)


def _session_class():
    import requests

    class Session(requests.Session):
        """Sends ``*`` and ``?`` in query strings as they are.

        dicomweb-client writes them as ``%2A`` and ``%3F`` (valid, but Orthanc 1.10
        then matches the literal text, not a wildcard).
        """

        def send(self, request, **kwargs):
            if request.method == "GET" and "?" in (request.url or ""):
                base, _, query = request.url.partition("?")
                request.url = base + "?" + query.replace("%2A", "*").replace("%3F", "?")
            return super().send(request, **kwargs)

    return Session


def _Session():  # a class made on first use: requests is imported lazily
    global _SESSION_CLASS
    if _SESSION_CLASS is None:
        _SESSION_CLASS = _session_class()
    return _SESSION_CLASS()


_SESSION_CLASS = None


_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def _uid(uid: str) -> str:
    """A UID checked before it goes into a URL path."""
    uid = str(uid).strip()
    if not _UID_RE.match(uid) or len(uid) > 64:
        raise PacsError(f"{uid!r} is not a DICOM UID (digits and dots, at most 64)")
    return uid


def _shown(url: str) -> str:
    """A request URL for a message: no credentials, no paging or include-field noise."""
    parts = urlsplit(redact(url))
    query = "&".join(q for q in parts.query.split("&") if q and q.split("=")[0] not in _NOISE)
    return urlunsplit(parts._replace(query=query))


_NOISE = frozenset({"includefield", "limit", "offset"})


def _short(exc: BaseException) -> str:
    """The innermost reason of a requests / urllib3 error, one line."""
    text = str(exc)
    for pat in (
        r"\[Errno -?\d+\] ([^'\")]+)",
        r"(Connection refused)",
        r"(certificate verify "
        r"failed[^'\")]*)",
        r"(Name or service not known)",
    ):
        m = re.search(pat, text)
        if m:
            return m.group(1).strip()
    return " ".join(text.split())[:160]


def iter_batches(
    items: Iterable[tuple[int, T]], max_bytes: int = STOW_BATCH_BYTES
) -> Iterator[list[T]]:
    """Group ``(size, item)`` pairs into lists of at most ``max_bytes`` (one item at least)."""
    batch: list[T] = []
    size = 0
    for n, item in items:
        if batch and size + n > max_bytes:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += n
    if batch:
        yield batch
