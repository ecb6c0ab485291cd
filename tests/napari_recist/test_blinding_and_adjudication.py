"""Blinded reading and the adjudicator's controller, without Qt (napari models only).

Which files the plugin opens is recorded with a Python audit hook (``open`` events:
``open()``, ``Path.open``/``read_text``, pandas' readers, ``os.open``), so the
blinding assertions hold whatever code path a file would be read through.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from napari.components import ViewerModel
from napari_recist._adjudication import Adjudication
from napari_recist._session import ReadingSession

from recist_tool.annotations import read_annotations
from recist_tool.reading import read_audit

from .cohorts import make_double_read

_OPENED: list[list[str]] = []


def _hook(event: str, args: tuple) -> None:
    if _OPENED and event == "open" and args and isinstance(args[0], (str, bytes, Path)):
        _OPENED[-1].append(
            str(Path(str(args[0], "utf-8") if isinstance(args[0], bytes) else args[0]).resolve())
        )


sys.addaudithook(_hook)


class Recorder:
    """Paths opened while recording (resolved)."""

    def __enter__(self) -> list[str]:
        _OPENED.append([])
        return _OPENED[-1]

    def __exit__(self, *exc: object) -> None:
        _OPENED.pop()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return make_double_read(tmp_path_factory.mktemp("double_read"))


@pytest.fixture
def cohort(built, tmp_path) -> Path:
    """A private copy of the double-read cohort (DEMO-001 discordant, DEMO-002 not)."""
    demo = tmp_path / "demo"
    shutil.copytree(built.parent, demo)
    return demo / "cohort"


def _under(paths: list[str], folder: Path) -> list[str]:
    root = str(folder.resolve())
    return [p for p in paths if p == root or p.startswith(root + "/")]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_reader_session_never_opens_another_readers_files(cohort):
    r1, r2 = cohort / "readings/r1", cohort / "readings/r2"
    before = _snapshot(r2)
    viewer = ViewerModel()
    s = ReadingSession(viewer, readings_dir=r1, reader="r1")
    s.persist.background = False
    with Recorder() as opened:
        s.open_study(cohort.parent / "dicom/DEMO-001")
        s.settle()
        # r1's own reading was restored (its lines, its response).
        assert s.reading.patient_id == "DEMO-001" and s.save_path == r1 / "DEMO-001.csv"
        assert s.reading.lesion("L1").findings["baseline"].long_axis is not None
        assert s.results.best_response() == "PR"
        # Opening r2's reading (the "Open reading…" dialog) is refused, and says why.
        s.load(r2 / "DEMO-001.csv")
        assert s.notices[-1][0] == "error"
        assert "blinded: reader 'r1' may not open" in s.notices[-1][1]
        assert s.results.best_response() == "PR"  # still r1's reading
        # Saving over r2's reading is refused too.
        s.save_as(r2 / "DEMO-001.csv")
        assert "not saved" in s.notices[-1][1]
        # The adjudicated readings and the cohort's results are not r1's either.
        s.load(cohort / "readings/adjudicated/DEMO-001.csv")
        assert "blinded" in s.notices[-1][1]
        s.add_lesion("target", "liver", False)  # an edit: autosaved to r1's file only
        s.flush()
    assert _under(opened, r2) == []
    assert _under(opened, cohort / "readings/adjudicated") == []
    assert _under(opened, cohort / "adjudication.csv") == []
    assert _under(opened, r1), "r1's own files were read and written"
    assert _snapshot(r2) == before
    assert s.blinding.refused  # the refusals are kept
    s.close()


def test_a_session_pointed_at_another_readers_folder_reads_and_writes_nothing_there(cohort):
    r2 = cohort / "readings/r2"
    before = _snapshot(r2)
    viewer = ViewerModel()
    s = ReadingSession(viewer, readings_dir=r2, reader="r1")  # misconfigured folder
    s.persist.background = False
    with Recorder() as opened:
        s.open_study(cohort.parent / "dicom/DEMO-001")
        s.settle()
        assert not s.reading.lesions  # r2's reading was not restored
        assert any("blinded" in text for _, text in s.notices)
        s.add_lesion("target", "liver", False)
        s.flush()
    assert _under(opened, r2) == []
    assert _snapshot(r2) == before
    assert sum("not saved" in text for _, text in s.notices) == 1  # said once, not per edit
    s.close()


def test_outside_a_cohort_nothing_changes(tmp_path, built):
    # A folder of readings that is not a cohort: readings/<one folder>/ only.
    folder = tmp_path / "mine/readings/work"
    folder.mkdir(parents=True)
    shutil.copy(built / "readings/r2/DEMO-001.csv", folder / "DEMO-001.csv")
    shutil.copy(built / "readings/r2/DEMO-001.json", folder / "DEMO-001.json")
    s = ReadingSession(ViewerModel(), readings_dir=tmp_path / "x", reader="r1")
    s.load(folder / "DEMO-001.csv")
    assert s.reading.patient_id == "DEMO-001" and not s.blinding.refused
    s.close()


def test_adjudicator_lists_opens_and_decides(cohort):
    viewer = ViewerModel()
    a = Adjudication(viewer, "dr_lee")
    assert not (cohort / "adjudication.csv").exists()
    assert a.open_cohort(cohort)
    assert (cohort / "adjudication.csv").is_file()  # the core's discordance ran
    [row] = a.rows
    assert (row.patient_id, row.readers, row.done) == ("DEMO-001", ["r1", "r2"], False)
    assert row.values["r1"]["bor"] == "PR" and row.values["r2"]["bor"] == "PD"
    assert "progression recorded by one reader only" in row.reasons
    with Recorder() as opened:
        assert a.open_patient("DEMO-001")
    readings = cohort / "readings"
    assert _under(opened, readings / "r1/DEMO-002.csv") == []  # concordant: not opened
    assert _under(opened, readings / "r2/DEMO-002.csv") == []
    assert {Path(p).name for p in _under(opened, readings)} >= {"DEMO-001.csv", "DEMO-001.json"}
    # Both readers' lines on the same image, one layer each, read-only.
    names = [layer.name for layer in viewer.layers]
    assert names[0].startswith("DEMO-001 · baseline")
    lines = {
        la.metadata["adjudication_reader"]: la
        for la in a.layers
        if la.name.endswith("lines · baseline")
    }
    assert set(lines) == {"r1", "r2"}
    assert len(lines["r1"].data) == len(lines["r2"].data) > 0
    assert all(not la.editable for la in a.layers[1:])
    assert list(lines["r1"].edge_color[0][:3]) != list(lines["r2"].edge_color[0][:3])
    # The engine's responses, and where they differ (texts compared, nothing computed).
    _, best1 = a.response("r1")
    rows2, best2 = a.response("r2")
    assert (best1, best2) == ("PR", "PD")
    assert rows2[-1]["reason"] == "non-target progression: NT1"
    assert ("fu1", "overall_response") in a.differences()
    assert "choose one reader for the whole patient" in a.per_timepoint_refusal()
    a.show_timepoint("fu1")
    assert any(la.name == "r2 lines · fu1" for la in viewer.layers)

    # A decision needs a reason; nothing is written without one.
    assert a.decide("r2", "  ") == []
    assert "reason" in a.notices[-1][1]
    assert not (readings / "adjudicated/DEMO-001.csv").exists()
    [path] = a.decide("r2", "NT1 unequivocal progression")
    assert path == readings / "adjudicated/DEMO-001.csv"
    rows = read_annotations(path)
    assert set(rows["reader"].astype(str)) == {"r2"}
    assert set(rows["adjudicator"].astype(str)) == {"dr_lee"}
    assert set(rows["adjudication_reason"].astype(str)) == {"NT1 unequivocal progression"}
    [rec] = read_audit(readings / "adjudicated/DEMO-001.audit.jsonl")
    assert (rec["reader"], rec["action"], rec["new"], rec["reason"]) == (
        "dr_lee",
        "adjudicate",
        "r2",
        "NT1 unequivocal progression",
    )
    assert set(rec["source_sha256"]) == {"r2"}
    assert a.rows[0].done and a.shown is None and a.layers == []


def test_adjudicator_name_must_be_usable(cohort):
    a = Adjudication(ViewerModel(), "dr lee")  # a space: not a reader-like name
    assert not a.open_cohort(cohort)
    assert "not a usable reader name" in a.notices[-1][1]


def test_the_readers_labels_of_a_lesion_never_overlap(cohort):
    """Both readers measured L1 almost alike (small lesion, lines on top of each other):
    their labels stack above the lesion, apart and off every line, at any zoom."""
    import numpy as np
    from napari_recist._adjudication import LABEL_PX
    from napari_recist._labels import PX_PER_PT, label_clear_of_segment, text_box_px

    viewer = ViewerModel()
    a = Adjudication(viewer, "dr_lee")
    assert a.open_cohort(cohort) and a.open_patient("DEMO-001")
    labels = {la.metadata["adjudication_reader"]: la for la in a.layers if "labels" in la.name}
    assert set(labels) == {"r1", "r2"}
    lines = [la for la in a.layers if " lines · " in la.name]
    segments = []  # (z, (y, x) end, (y, x) end) of every line shown
    for la in lines:
        for shape in la.data:
            (z, *p1), (_, *p2) = (la.data_to_world(v) for v in shape)
            segments.append((z, tuple(p1), tuple(p2)))
    font = LABEL_PX * PX_PER_PT
    first_y: list[float] = []
    for zoom in (6.0, 1.0, 0.3):
        viewer.scene.camera.zoom = zoom  # the labels are placed again for the new zoom
        boxes: dict[str, list] = {}
        for reader, layer in labels.items():
            texts = list(layer.features["label"])
            assert len(texts) == len(layer.data) > 0
            for pos, text in zip(layer.data, texts, strict=True):
                z, y, x = layer.data_to_world(pos)
                w, h = text_box_px(text, font)
                box = (y * zoom - h / 2, x * zoom - w / 2, y * zoom + h / 2, x * zoom + w / 2)
                boxes.setdefault(text.split()[1], []).append((reader, box))
                for z_line, p1, p2 in segments:
                    if abs(z_line - z) > 0.5:
                        continue  # another slice: not on screen with this label
                    assert label_clear_of_segment((y, x), text, p1, p2, zoom, font), (zoom, text)
        assert {r for r, _ in boxes["L1"]} == {"r1", "r2"}
        for placed in boxes.values():
            for i, (_, b1) in enumerate(placed):
                for _, b2 in placed[i + 1 :]:
                    e = 1e-6  # boxes one line apart touch
                    apart = (
                        b1[2] <= b2[0] + e
                        or b2[2] <= b1[0] + e
                        or b1[3] <= b2[1] + e
                        or b2[3] <= b1[1] + e
                    )
                    assert apart, (zoom, b1, b2)
        first_y.append(float(labels["r1"].data_to_world(labels["r1"].data[0])[1]))
    assert len(set(np.round(first_y, 6))) == 3  # placed again at each zoom
