"""The widget's export buttons: DICOM SR and patient report of the current reading.

The sample study is read through the widget (as in ``test_widget``), the button is
pressed with the folder dialog replaced by a temporary folder, and what was written
is read back with the core's SR importer and an HTML parser.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import napari_recist._qt.widget as widget_module
import pytest
from napari_recist._qt.widget import RecistWidget
from napari_recist._session import ReadingSession

from recist_tool.export.sr_import import read_srs

from .conftest import fresh, pump
from .test_widget import make_widget, read_baseline, read_followup

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def notifications(monkeypatch) -> list[tuple[str, str]]:
    """What the sessions tell the reader (the widget's message panel), in order."""
    seen: list[tuple[str, str]] = []
    original = ReadingSession._notify

    def keep(self, severity: str, text: str) -> None:
        seen.append((severity, text))
        original(self, severity, text)

    monkeypatch.setattr(ReadingSession, "_notify", keep)
    return seen


@pytest.fixture
def widget(make_napari_viewer, sample_layers, notifications, qtbot) -> RecistWidget:
    """A viewer with the sample's two series and the RECIST widget docked."""
    return make_widget(make_napari_viewer, sample_layers)


@pytest.fixture
def read_widget(widget, truth) -> RecistWidget:
    """The widget after a full read of the sample (baseline and follow-up)."""
    ids = read_baseline(widget, truth)
    read_followup(widget, truth, ids)
    return widget


@pytest.fixture
def choose(monkeypatch):
    """Replace the folder dialog: ``choose(folder)`` makes it answer ``folder``."""
    asked: list[str] = []

    def set_answer(folder: Path | str) -> list[str]:
        def dialog(parent, title, start=""):
            asked.append(title)
            return str(folder)

        monkeypatch.setattr(widget_module, "choose_output_folder", dialog)
        return asked

    return set_answer


def expected_findings(w: RecistWidget) -> dict[tuple[str, str], tuple[str, float | None]]:
    """(time point, lesion ID) -> (kind, long axis mm) of every finding of the reading."""
    out = {}
    for lesion in w.session.reading.lesions:
        for label, f in lesion.findings.items():
            out[(label, lesion.lesion_id)] = (lesion.kind, f.long_mm)
    return out


def test_sr_button_writes_one_sr_per_time_point_with_the_reading(
    read_widget, choose, tmp_path, notifications, truth
):
    w = read_widget
    out = tmp_path / "sr out"
    asked = choose(out)
    assert w.sr_btn.isEnabled()
    w.sr_btn.click()
    assert asked == ["Export DICOM SR into a folder"]
    files = sorted(out.glob("*.dcm"))
    labels = [tp.label for tp in w.session.reading.timepoints]
    assert len(files) == len(labels) == 2
    imported = read_srs(files)
    assert {le.timepoint for le in imported} == set(labels)
    assert {le.patient_id for le in imported} == {truth["patient_id"]}
    got = {(le.timepoint, le.lesion_id): (le.kind, le.long_axis_mm) for le in imported}
    expected = expected_findings(w)
    assert got.keys() == expected.keys()
    for key, (kind, long_mm) in expected.items():
        assert got[key][0] == kind, key
        if long_mm is None:
            assert got[key][1] is None, key
        else:
            assert got[key][1] == pytest.approx(long_mm, abs=0.05), key
    # The measured targets are there with their sizes (3 targets at 2 time points).
    measured = [k for k, (_, mm) in expected.items() if mm is not None]
    assert len(measured) == 6
    # Same lesion, same Tracking UID at every time point.
    uids = {}
    for le in imported:
        uids.setdefault(le.lesion_id, set()).add(le.tracking_uid)
    assert all(len(u) == 1 for u in uids.values())
    # Identifiers stay as the core writes them by default: no name, no birth date.
    from pydicom import dcmread

    for f in files:
        ds = dcmread(f)
        assert not str(ds.get("PatientName", "")) and not ds.get("PatientBirthDate")
    # The notification names the files written.
    infos = [m for sev, m in notifications if sev == "info" and "DICOM SR written" in m]
    assert len(infos) == 1 and all(f.name in infos[0] for f in files)
    assert not [m for sev, m in notifications if sev == "error"]


def test_sr_export_in_the_session_returns_the_paths(read_widget, tmp_path):
    """The controller's call site, without any dialog."""
    paths = read_widget.session.export_sr(tmp_path)
    assert sorted(paths) == sorted(tmp_path.glob("*_SR.dcm"))
    assert {le.lesion_id for le in read_srs(paths)} == {
        lesion.lesion_id for lesion in read_widget.session.reading.lesions
    }


class _Text(HTMLParser):
    """Collects an HTML document's text (raises nothing on valid HTML)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.images = 0

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "img":
            self.images += 1


def test_report_button_writes_the_patient_report_naming_each_lesion(
    read_widget, choose, tmp_path, notifications, truth
):
    w = read_widget
    out = tmp_path / "report"
    asked = choose(out)
    w.report_btn.click()
    assert asked == ["Write the patient report into a folder"]
    html_files = list(out.glob("*.html"))
    assert [f.name for f in html_files] == [f"{truth['patient_id']}_report.html"]
    assert (out / f"{truth['patient_id']}_report.pdf").read_bytes()[:5] == b"%PDF-"
    parser = _Text()
    parser.feed(html_files[0].read_text(encoding="utf-8"))
    text = " ".join(parser.text)
    for lesion in w.session.reading.lesions:
        assert lesion.lesion_id in text, lesion.lesion_id
    # A key image for every finding drawn (a line or a point): 3 targets at 2 time
    # points and the non-target's point at baseline.
    drawn = [
        f
        for lesion in w.session.reading.lesions
        for f in lesion.findings.values()
        if f.status and (f.long_axis or f.short_axis or f.marker is not None)
    ]
    assert parser.images == len(drawn) == 7
    assert "SYNTHETIC" not in text  # the patient's name is not in the report
    infos = [m for sev, m in notifications if sev == "info" and "patient report written" in m]
    assert len(infos) == 1 and html_files[0].name in infos[0]


def test_export_errors_are_notifications(widget, choose, tmp_path, notifications):
    """Nothing measured yet: the report cannot be made; the core's error is shown."""
    w = widget
    choose(tmp_path / "out")
    w.report_btn.click()
    errors = [m for sev, m in notifications if sev == "error"]
    assert len(errors) == 1
    assert "no patient report written" in errors[0] and "no assessed lesion" in errors[0]
    assert not (tmp_path / "out").exists()
    # An SR with nothing measured: nothing written, said as a warning.
    w.sr_btn.click()
    assert any(sev == "warning" and "no DICOM SR written" in m for sev, m in notifications), (
        notifications
    )


def test_images_moved_away_after_opening_is_a_notification(
    make_napari_viewer, sample_layers, choose, tmp_path, notifications, truth
):
    """The study folder is gone when the SR is exported: the core's SRExportError is
    shown naming the folder, not raised."""
    moved = tmp_path / "moved"
    moved.mkdir()
    w = make_widget(make_napari_viewer)
    layers = fresh(sample_layers)
    for _, kwargs, _ in layers:
        kwargs["metadata"]["recist_folder"] = str(moved)
    w.session.open_layers(layers)
    pump(20)
    ids = read_baseline(w, truth)
    assert ids
    choose(tmp_path / "out")
    w.sr_btn.click()
    errors = [m for sev, m in notifications if sev == "error"]
    assert len(errors) == 1
    assert "no DICOM SR written" in errors[0] and "no DICOM image found" in errors[0]
    assert str(moved) in errors[0]
    assert not list((tmp_path).rglob("*_SR.dcm"))


def test_unwritable_output_folder_is_a_notification(read_widget, choose, tmp_path, notifications):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    choose(blocker)
    read_widget.sr_btn.click()
    errors = [m for sev, m in notifications if sev == "error"]
    assert len(errors) == 1 and f"no DICOM SR written to {blocker}" in errors[0]


def test_cancelled_dialog_writes_nothing(read_widget, choose, notifications):
    choose("")
    read_widget.sr_btn.click()
    read_widget.report_btn.click()
    assert not [m for sev, m in notifications if "written" in m]


def test_buttons_wait_for_a_study(make_napari_viewer):
    w = RecistWidget(make_napari_viewer())
    assert not w.sr_btn.isEnabled() and not w.report_btn.isEnabled()
