"""Bounded fuzzing of the reading sidecar (and recovery file) reader.

A sidecar whose values were replaced by other JSON values (wrong types, huge or
non-finite numbers, odd text, missing or extra keys) is either restored into a
reading whose annotation table the RECIST engine evaluates, or refused with a
ReadingError naming the file; never another exception.
"""

from __future__ import annotations

import contextlib
import json

from hypothesis import given
from hypothesis import strategies as st

from recist_tool.errors import RecistError
from recist_tool.reading import ReadingError, evaluate_reading, load_sidecar
from tests.recist_tool.fuzzing import budget
from tests.recist_tool.test_reading import _reading

BASE = _reading().to_json()

ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "baseline", "FU1", "target", "measured", "x" * 500, "é😀", "1e999"]),
    st.lists(st.integers(-5, 5), max_size=4),
    st.just({}),
)


def _paths(doc, prefix=()):
    """Every (path, value) of a JSON document."""
    yield prefix, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


PATHS = [p for p, _ in _paths(BASE) if p]


def _mutated(edits: list[tuple[int, object, bool]]):
    doc = json.loads(json.dumps(BASE))
    for index, value, delete in edits:
        path = PATHS[index % len(PATHS)]
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            if delete and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit changed the structure above this path
    return doc


@budget(120)
@given(st.lists(st.tuples(st.integers(0, 10_000), ODD, st.booleans()), min_size=1, max_size=4))
def test_a_damaged_sidecar_is_restored_or_refused_naming_the_file(tmp_path_factory, edits):
    path = tmp_path_factory.mktemp("side") / "reading.json"
    path.write_text(json.dumps(_mutated(edits), allow_nan=True))
    try:
        reading = load_sidecar(path)
    except ReadingError as exc:
        assert "reading.json" in str(exc)
        return
    with contextlib.suppress(RecistError):  # usable, or the engine says why
        evaluate_reading(reading)


@budget(40)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_are_refused_naming_the_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("side") / "junk.json"
    path.write_bytes(data)
    try:
        load_sidecar(path)
    except ReadingError as exc:
        assert "junk.json" in str(exc)
