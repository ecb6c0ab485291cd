"""The response words of the reader's and the adjudicator's panels come from one helper."""

from __future__ import annotations

from napari_recist._qt import tables
from napari_recist._qt.adjudication_panel import reader_response_html
from napari_recist._qt.panels import RESPONSE_HTML, response_html, response_word

ROWS = [
    {"timepoint": "baseline", "date": "2020-01-01", "sum": "40 mm"},
    {"timepoint": "FU1", "date": "2020-04-01", "overall_response": "PD", "reason": "<5 mm>"},
]


def test_response_word_is_coloured_and_escaped():
    assert response_word("PD") == f"<b style='color:{RESPONSE_HTML['PD']}'>PD</b>"
    assert response_word("<x>") == "<b style='color:#dddddd'>&lt;x&gt;</b>"


def test_both_panels_show_the_same_response_words():
    mine = response_html(ROWS, "PD")
    theirs = reader_response_html("dr a", "#ff0000", ROWS, "PD", set())
    for html in (mine, theirs):
        assert html.count(response_word("PD")) == 2  # the time point and the best response
        assert "&lt;5 mm&gt;" in html
    assert reader_response_html("dr a", "#ff0000", ROWS, "", set()).endswith(
        f"BOR {response_word('–')}</div>"
    )


def test_the_palette_is_written_once():
    assert not hasattr(tables, "RESPONSE_COLORS")  # unused copy of RESPONSE_HTML, removed
