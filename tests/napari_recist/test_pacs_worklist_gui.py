"""*Open from PACS…*, the worklist panel and sign-off in a real napari window, driven
by real Qt input events (``QTest`` clicks and keys on the dialog, the panel and the
canvas), against the suite's real Orthanc (one per worker, tests/conftest.py) and a
synthetic demo cohort. What is saved on disk is read back."""

from __future__ import annotations

import napari_recist._qt.worklist_panel as panel_module
import pytest
from qtpy.QtCore import Qt, QTimer
from qtpy.QtTest import QTest
from qtpy.QtWidgets import QApplication, QLineEdit

from recist_tool.annotations import read_annotations
from recist_tool.reading.audit import audit_path, read_audit
from recist_tool.reading.signoff import SignOff
from recist_tool.worklist import Worklist, from_folder

from ..conftest import PASSWORD, USER
from .conftest import pump, wait_until
from .test_widget import make_widget

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
LEFT = Qt.MouseButton.LeftButton


def click(widget) -> None:
    QTest.mouseClick(widget, LEFT)
    pump(20)


def type_into(edit: QLineEdit, text: str) -> None:
    edit.setFocus()
    edit.selectAll()
    QTest.keyClick(edit, Qt.Key.Key_Delete)
    QTest.keyClicks(edit, text)


def click_row(table, row: int, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    rect = table.visualRect(table.model().index(row, 0))
    QTest.mouseClick(table.viewport(), LEFT, modifier, rect.center())
    pump(20)


@pytest.fixture
def pacs_user(monkeypatch, tmp_path):
    monkeypatch.setenv("RECIST_PACS_USER", USER)
    monkeypatch.setenv("RECIST_PACS_PASSWORD", PASSWORD)
    monkeypatch.delenv("RECIST_PACS_TOKEN", raising=False)
    monkeypatch.delenv("RECIST_PACS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("RECIST_PACS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_open_from_pacs_searches_pulls_and_opens_with_readable_errors(
    make_napari_viewer, qtbot, orthanc, pacs_user, monkeypatch
):
    w = make_widget(make_napari_viewer)
    click(w.pacs_btn)
    dlg = w.pacs_dialog
    assert dlg.isVisible() and dlg.objectName() == "recist.pacs_dialog"
    type_into(dlg.url, orthanc.url)
    type_into(dlg.patient, "RECIST-SAMPLE-*")
    QTest.keyClick(dlg.patient, Qt.Key.Key_Return)  # Enter searches
    assert wait_until(lambda: not dlg.busy and dlg.table.rowCount() == 2, 15000)
    assert [dlg.table.item(r, 1).text() for r in range(2)] == ["2024-01-15", "2024-04-16"]
    click_row(dlg.table, 0)
    assert wait_until(lambda: not dlg.busy and "Series:" in dlg.series_label.text(), 10000)
    click_row(dlg.table, 1, Qt.KeyboardModifier.ShiftModifier)  # baseline and follow-up
    assert wait_until(lambda: dlg.open_btn.isEnabled(), 5000)
    click(dlg.open_btn)
    assert wait_until(lambda: not dlg.isVisible(), 30000), dlg.status.text()
    r = w.session.reading
    assert r.patient_id == "RECIST-SAMPLE-001"
    assert [tp.label for tp in r.timepoints] == ["baseline", "FU1"]  # by date
    assert sorted(i.timepoint for i in r.series.values()) == ["FU1", "baseline"]
    folders = w.session.dicom_folders()
    assert folders and all(pacs_user in f.parents for f in folders)  # read from the cache
    assert len(list(pacs_user.rglob("*.dcm"))) == 82

    # errors: wrong credentials (401), then a server that is not there
    monkeypatch.setenv("RECIST_PACS_PASSWORD", "wrong")
    click(w.pacs_btn)
    click(dlg.search_btn)
    assert wait_until(lambda: not dlg.busy, 10000)
    text = dlg.status.text()
    assert "401" in text and "RECIST_PACS_USER" in text and "Traceback" not in text
    type_into(dlg.url, "http://127.0.0.1:9/dicom-web")
    click(dlg.search_btn)
    assert wait_until(lambda: not dlg.busy, 15000)
    text = dlg.status.text()
    assert "127.0.0.1:9" in text and "cannot connect" in text.lower(), text
    assert "Traceback" not in text
    click(dlg.cancel_btn)  # Close
    assert not dlg.isVisible()


@pytest.fixture(scope="module")
def demo_dicom(tmp_path_factory):
    from recist_tool.synth.demo import write_demo_cohort

    out = tmp_path_factory.mktemp("demo")
    write_demo_cohort(out, n=3)
    return out / "dicom"


def answer_reason(text: str, seen: list[str]) -> None:
    """Type ``text`` into the reason dialog once it is up (real key events)."""

    def poll() -> None:
        dlg = QApplication.activeModalWidget()
        if dlg is None or dlg.objectName() != "recist.reason_dialog":
            QTimer.singleShot(20, poll)
            return
        seen.append(dlg.labelText())
        edit = dlg.findChild(QLineEdit)
        QTest.keyClicks(edit, text)
        QTest.keyClick(edit, Qt.Key.Key_Return)

    QTimer.singleShot(20, poll)


def test_worklist_panel_next_patient_saves_and_sign_off_asks_a_reason(
    make_napari_viewer, qtbot, demo_dicom, tmp_path, monkeypatch
):
    monkeypatch.setenv("RECIST_READER", "reader1")
    cohort = tmp_path / "cohort"
    Worklist.create(cohort, from_folder(demo_dicom), {"kind": "folder", "path": str(demo_dicom)})
    monkeypatch.setattr(panel_module, "choose_cohort", lambda parent: str(cohort))
    w = make_widget(make_napari_viewer)
    click(w.worklist_btn)
    panel = w.worklist_panel
    assert panel.objectName() == "recist.worklist" and panel.isVisible()
    click(panel.open_btn)
    assert panel.table.rowCount() == 3
    assert panel.progress_label.text().startswith("0 of 3 finished")

    canvas = w.main_canvas()
    QTest.keyClick(canvas, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert wait_until(lambda: not panel.busy and w.session.reading.patient_id == "DEMO-001", 15000)
    s = w.session
    assert [tp.label for tp in s.reading.timepoints] == ["baseline", "fu1"]
    # the worklist is a tab beside the reading (below it, it left the lesion table
    # out of sight); opening a patient brings the reading forward
    pump(30)
    assert not w.visibleRegion().isEmpty() and panel.visibleRegion().isEmpty()
    assert w.lesion_table.visibleRegion().boundingRect().height() >= 120
    click(w.worklist_btn)
    pump(30)
    assert not panel.visibleRegion().isEmpty() and w.visibleRegion().isEmpty()
    # read patient 1: a non-target lesion, present at baseline (form + buttons)
    w.kind_combo.setCurrentIndex(w.kind_combo.findData("non_target"))
    click(w.add_btn)
    click(w.status_btns["present"])
    lid = s.active_lesion
    assert s.reading.lesion(lid).findings["baseline"].status == "present"

    QTest.keyClick(canvas, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert wait_until(lambda: not panel.busy and s.reading.patient_id == "DEMO-002", 15000)
    wl = Worklist.open(cohort)
    p1 = wl.reading_path("DEMO-001", "reader1")
    saved = read_annotations(p1)
    assert list(saved["lesion_id"]) == [lid] and list(saved["status"]) == ["present"]
    assert wl.entry("DEMO-001", "reader1").status == "in_progress"
    assert "▶ DEMO-002" in panel.table.item(1, 0).text()

    # patient 2: measure, sign the baseline, then change it: a reason is asked
    w.kind_combo.setCurrentIndex(w.kind_combo.findData("non_target"))
    click(w.add_btn)
    click(w.status_btns["present"])
    lid2 = s.active_lesion
    click(panel.sign_tp_btn)
    p2 = wl.reading_path("DEMO-002", "reader1")
    assert SignOff(p2).is_signed("baseline")
    assert "signed" in w.lesion_box.title() and "locked" in panel.signed_label.text()
    seen: list[str] = []
    answer_reason("rechecked: lesion absent", seen)
    click(w.status_btns["absent"])
    assert wait_until(lambda: bool(seen), 3000) and "signed by reader1" in seen[0]
    assert s.reading.lesion(lid2).findings["baseline"].status == "absent"
    s.flush()
    amended = [e for e in read_audit(audit_path(p2)) if e.get("reason")]
    assert amended[-1]["reason"] == "rechecked: lesion absent"
    assert amended[-1]["action"] == "set_status" and amended[-1]["timepoint"] == "baseline"
    saved = read_annotations(p2)
    assert saved["signed_at"].str.endswith("Z").all()
    # fu1 is not read yet: the patient is not signed, and the reader is told why
    click(panel.sign_pt_btn)
    assert not SignOff(p2).is_signed("fu1")
    assert w.messages.items[0][0] == "error"
    assert f"time point fu1: {lid2} not assessed yet" in w.messages.items[0][1]
    # said in the worklist tab too (the reading's messages are behind it)
    assert panel.messages.items[0] == w.messages.items[0] and not panel.messages.isHidden()
    click(panel.done_btn)
    assert Worklist.open(cohort).entry("DEMO-002", "reader1").status == "done"
    assert w.messages.items[0] == (
        "warning",
        f"DEMO-002 marked done with lesions still to assess (fu1: {lid2}): it cannot be "
        "signed until they are",
    )
    assert panel.progress_label.text().startswith("1 of 3 finished")
