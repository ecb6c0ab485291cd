"""The DICOMweb client against a real Orthanc: search, pull (resume, damaged cache),
push, errors (server down, slow, wrong credentials, 5xx with retries)."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
from pydicom import dcmread

from recist_tool.dicom import scan
from recist_tool.pacs import (
    PacsClient,
    PacsError,
    PacsSettings,
    PullCancelled,
    date_range,
    instance_path,
    pull_study,
    read_index,
    resolve,
)
from recist_tool.pacs.push import check_target_study, push_files
from recist_tool.synth.phantom import write_series

from .conftest import PASSWORD, SAMPLE, USER, StubServer

SAMPLE_PID = "RECIST-SAMPLE-001"


def _baseline(client):
    return next(s for s in client.find_studies(SAMPLE_PID) if s.study_date == "2024-01-15")


def test_find_by_patient_date_and_modality(client):
    both = client.find_studies(patient_id=SAMPLE_PID, modality="CT")
    assert [s.study_date for s in both] == ["2024-01-15", "2024-04-16"]
    assert all(s.modalities == ("CT",) and s.instance_count == 41 for s in both)
    assert [s.study_date for s in client.find_studies(SAMPLE_PID, "2024-03-01..")] == ["2024-04-16"]
    assert client.find_studies(SAMPLE_PID, "20240101-20240131")[0].study_date == "2024-01-15"
    assert client.find_studies("RECIST-SAMPLE-*", modality="MR") == []
    # wildcards reach Orthanc as wildcards (dicomweb-client percent-encodes them)
    assert len(client.find_studies("RECIST-SAMPLE-*", modality="CT")) == 2
    assert len(client.find_studies("RECIST-SAMPLE-00?")) == 2
    assert client.find_studies("NOBODY") == []
    series = client.find_series(both[0].study_uid)
    assert [(s.modality, s.series_number, s.instance_count) for s in series] == [("CT", 2, 41)]


def test_date_range_forms():
    assert date_range("2024-01-02") == "20240102"
    assert date_range("2024-01-02..2024-03-04") == "20240102-20240304"
    assert date_range("..2024-03-04") == "-20240304"
    assert date_range("20240102-") == "20240102-"
    for bad in ("2024-13-01", "yesterday", "2024-01-02..soon"):
        with pytest.raises(PacsError, match="study date"):
            date_range(bad)


def test_pull_resume_and_damaged_cache(client, tmp_path):
    study = _baseline(client)
    seen = []
    res = pull_study(client, study.study_uid, tmp_path, progress=seen.append)
    assert (res.total, res.fetched, res.already_cached) == (41, 41, 0)
    assert seen[-1].done == seen[-1].total == 41
    # the cache holds the uploaded files byte for byte (nothing re-encoded)
    series_uid = res.series_uids[0]
    originals = {str(dcmread(p).SOPInstanceUID): p for p in (SAMPLE / "baseline").glob("*.dcm")}
    assert len(originals) == 41
    for sop, src in originals.items():
        got = instance_path(tmp_path, study.study_uid, series_uid, sop)
        assert got.read_bytes() == src.read_bytes()
    assert read_index(tmp_path, study.study_uid)["patient_id"] == SAMPLE_PID
    vol = scan(res.folder)
    assert len(vol) == 1 and vol[0].loadable and vol[0].frame_count == 41

    # a partial pull (files lost), a truncated file, a file of garbage: resumed
    files = sorted((res.folder / series_uid).glob("*.dcm"))
    for f in files[:10]:
        f.unlink()
    with open(files[10], "r+b") as fh:
        fh.truncate(os.path.getsize(files[10]) // 2)
    files[11].write_bytes(b"\0" * 200 + b"not DICOM")
    again = pull_study(client, study.study_uid, tmp_path)
    assert (again.fetched, again.already_cached, again.refetched) == (12, 29, 2)
    assert scan(res.folder)[0].loadable
    assert pull_study(client, study.study_uid, tmp_path).fetched == 0


def test_pull_can_be_cancelled_and_resumed(client, tmp_path):
    study = _baseline(client)
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 5

    with pytest.raises(PullCancelled):
        pull_study(client, study.study_uid, tmp_path, should_stop=stop)
    res = pull_study(client, study.study_uid, tmp_path)
    assert res.already_cached >= 4 and res.already_cached + res.fetched == 41


def test_pull_unknown_study_or_series(client, tmp_path):
    with pytest.raises(PacsError, match=r"study 1\.2\.3 not found on http://127\.0\.0\.1"):
        pull_study(client, "1.2.3", tmp_path)
    study = _baseline(client)
    with pytest.raises(PacsError, match=r"series 1\.2\.3 not in study"):
        pull_study(client, study.study_uid, tmp_path, series_uids=["1.2.3"])


def test_a_study_with_a_bad_series_is_pulled_and_reported(orthanc, client, tmp_path):
    common = dict(
        shape=(12, 48, 48),
        patient_id="BAD-001",
        study_date="20240301",
        study_uid="2.25.1313",
        transfer_syntax="explicit",
    )
    write_series(tmp_path / "src" / "good", series_number=2, seed=1, **common)
    write_series(tmp_path / "src" / "gap", series_number=3, seed=2, missing=[5], **common)
    orthanc.upload([tmp_path / "src"])
    res = pull_study(client, "2.25.1313", tmp_path / "cache")
    assert res.fetched == 12 + 11
    infos = {s.series_number: s for s in scan(res.folder)}
    assert infos[2].loadable
    assert not infos[3].loadable and "missing" in infos[3].problem


def test_push_sr_lands_in_the_images_study(client, tmp_path):
    from recist_tool.export.sr import export_readings
    from recist_tool.reading import Reading

    reading = Reading.load(SAMPLE / "annotations.csv")
    paths = export_readings([reading], [SAMPLE], tmp_path, include_identity=True)
    check_target_study(client, paths)
    res = push_files(client, paths)
    assert len(res.stored) == 2
    for p in paths:
        sr = dcmread(p)
        study = client.study(sr.StudyInstanceUID)
        assert study is not None and study.patient_id == sr.PatientID == SAMPLE_PID
        assert "SR" in study.modalities and "CT" in study.modalities
        sr_series = [s for s in client.find_series(sr.StudyInstanceUID) if s.modality == "SR"]
        assert str(sr.SOPInstanceUID) in client.find_instances(
            sr.StudyInstanceUID, sr_series[0].series_uid
        )
    # an SR under another patient would be filed as a new patient: refused
    other = dcmread(paths[0])
    other.PatientID = "SOMEONE-ELSE"
    other.save_as(tmp_path / "other.dcm")
    with pytest.raises(PacsError, match="under another patient"):
        check_target_study(client, [tmp_path / "other.dcm"])


def test_wrong_credentials_say_so(orthanc):
    bad = PacsClient(PacsSettings(orthanc.url, user=USER, password="wrong"))
    with pytest.raises(PacsError) as err:
        bad.find_studies()
    assert err.value.status == 401
    msg = str(err.value)
    assert orthanc.url in msg and "HTTP 401" in msg and "RECIST_PACS_USER" in msg
    assert "wrong" not in msg
    with pytest.raises(PacsError, match="HTTP 401"):
        PacsClient(orthanc.url).find_studies()  # no credentials at all


def test_server_down_is_retried_then_named():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/dicom-web"
    t0 = time.perf_counter()
    with pytest.raises(PacsError, match=rf"{port}/dicom-web/studies: cannot connect"):
        PacsClient(PacsSettings(url, attempts=3, backoff=0.1)).find_studies()
    assert time.perf_counter() - t0 >= 0.3  # waited 0.1 + 0.2 s between the 3 tries


def test_slow_server_times_out():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)  # accepts connections, never answers
    url = f"http://127.0.0.1:{srv.getsockname()[1]}/dicom-web"
    try:
        with pytest.raises(PacsError, match=r"did not answer within 0\.3 s"):
            PacsClient(PacsSettings(url, timeout=0.3, attempts=1)).find_studies()
    finally:
        srv.close()


def test_5xx_retried_for_searches_never_for_stores(tmp_path):
    answers = [(503, b"busy"), (503, b"busy"), (200, b"[]")]
    with StubServer(answers) as stub:
        c = PacsClient(PacsSettings(stub.url, attempts=3, backoff=0.01))
        assert c.find_studies() == []
        assert [r[0] for r in stub.requests] == ["GET"] * 3
    ds = dcmread(next((SAMPLE / "baseline").glob("*.dcm")))
    with StubServer([(503, b"busy"), (200, b"{}")], "text/plain") as stub:
        c = PacsClient(PacsSettings(stub.url, attempts=3, backoff=0.01))
        with pytest.raises(PacsError, match=r"HTTP 503 .*server error \(server said: busy\)"):
            c.store([ds])
        assert [r[0] for r in stub.requests] == ["POST"]
    with StubServer([(500, b"boom")] * 3, "text/plain") as stub:
        c = PacsClient(PacsSettings(stub.url, attempts=3, backoff=0.01))
        with pytest.raises(PacsError, match="HTTP 500"):
            c.find_series("1.2.3")
        assert len(stub.requests) == 1  # a 500 is not worth another try


def test_bearer_token_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RECIST_PACS_TOKEN", "tok-123")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    with StubServer([(200, b"[]")]) as stub:
        PacsClient(stub.url).find_studies()
    assert stub.requests[0][2]["Authorization"] == "Bearer tok-123"


def test_config_file_credentials_and_permissions(monkeypatch, tmp_path):
    for k in ("RECIST_PACS_USER", "RECIST_PACS_PASSWORD", "RECIST_PACS_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    cfg = tmp_path / "pacs.toml"
    cfg.write_text(
        '[[server]]\nurl = "http://pacs.example/"\nuser = "a"\npassword = "b"\n'
        '[[server]]\nurl = "http://pacs.example/dicom-web"\ntoken = "tok-SECRET"\ntimeout = 7\n'
    )
    monkeypatch.setenv("RECIST_PACS_CONFIG", str(cfg))
    cfg.chmod(0o644)
    with pytest.raises(PacsError, match="chmod 600"):
        resolve("http://pacs.example/dicom-web")
    cfg.chmod(0o600)
    s = resolve("http://pacs.example/dicom-web")
    assert (s.token, s.user, s.timeout, s.verify_tls) == ("tok-SECRET", None, 7.0, True)
    assert "tok-SECRET" not in repr(s)
    s = resolve("http://pacs.example/other")
    assert (s.user, s.password, s.token) == ("a", "b", None)
    monkeypatch.setenv("RECIST_PACS_USER", "env-user")
    monkeypatch.setenv("RECIST_PACS_PASSWORD", "env-pw")
    assert resolve("http://pacs.example/other").user == "env-user"
    with pytest.raises(PacsError, match="not a DICOMweb URL"):
        resolve("pacs.example")
    with pytest.raises(PacsError, match="CA bundle not found"):
        resolve(PacsSettings("https://x/dicom-web", ca_bundle=str(tmp_path / "none.pem")))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('timeout = "soon"', "timeout must be a positive number of seconds"),
        ("timeout = -1", "timeout must be a positive number of seconds"),
        ("verify_tls = 0", "verify_tls must be true or false"),
        ("user = 12", "user must be text"),
        ("ca_bundle = [1]", "ca_bundle must be text"),
    ],
)
def test_config_values_of_the_wrong_type_are_named(monkeypatch, tmp_path, entry, message):
    cfg = tmp_path / "pacs.toml"
    cfg.write_text(f'[[server]]\nurl = "http://pacs.example/"\n{entry}\n')
    cfg.chmod(0o600)
    monkeypatch.setenv("RECIST_PACS_CONFIG", str(cfg))
    with pytest.raises(
        PacsError, match=f"pacs.toml: \\[\\[server\\]\\] http://pacs.example/: {message}"
    ):
        resolve("http://pacs.example/dicom-web")


def test_tls_is_verified_by_default(tmp_path):
    """An https server with a self-signed certificate is refused (TLS verification on)."""
    import ssl
    import subprocess

    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    with StubServer([(200, b"[]")] * 3) as stub:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        stub.server.socket = ctx.wrap_socket(stub.server.socket, server_side=True)
        url = stub.url.replace("http://", "https://")
        with pytest.raises(PacsError, match="TLS certificate verification failed"):
            PacsClient(PacsSettings(url, attempts=1)).find_studies()


def test_orthanc_fixture_is_on_loopback_with_its_own_storage(orthanc):
    cfg = json.loads((orthanc.storage / "orthanc.json").read_text())
    assert cfg["HttpPort"] == orthanc.port != 8042
    assert cfg["RemoteAccessAllowed"] is False and cfg["DicomServerEnabled"] is False
    assert str(orthanc.storage) in cfg["StorageDirectory"]
    assert cfg["RegisteredUsers"] == {USER: PASSWORD}
