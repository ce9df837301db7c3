"""The one helper every listing writes its tab-separated lines with: whatever a cell
holds (names and titles come from untrusted files), a row is one line of exactly
its cells, and a cell that is already one clean line is written as it is."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from digest.cli.output import tsv_line
from digest.validate import clean_line

cells = st.lists(st.one_of(st.text(), st.integers(), st.none()), min_size=1, max_size=8)


@given(cells)
def test_a_row_is_one_line_of_exactly_its_cells(row):
    line = tsv_line(row)
    assert line.endswith("\n") and len(line[:-1].splitlines() or [""]) == 1
    assert len(line[:-1].split("\t")) == len(row)


@given(st.lists(st.text().map(clean_line), min_size=1, max_size=8))
def test_clean_cells_are_written_as_they_are(row):
    assert tsv_line(row) == "\t".join(row) + "\n"
