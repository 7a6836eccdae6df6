"""CSV tables written by genlab read back with the `csv` module, whatever their values hold."""

from __future__ import annotations

import csv

from genlab.core.paths import atomic_write_csv


def test_values_with_commas_and_quotes_round_trip_through_csv_reader(tmp_path):
    rows = [
        {"output": "'1,2'", "note": 'the model wrote "12"', "count": 3},
        {"output": "-", "note": "plain", "count": 1},
    ]
    path = atomic_write_csv(tmp_path / "table.csv", rows)
    with open(path, newline="") as fh:
        read = list(csv.reader(fh))
    assert read == [["output", "note", "count"], ["'1,2'", 'the model wrote "12"', "3"], ["-", "plain", "1"]]


def test_no_rows_write_an_empty_file(tmp_path):
    assert atomic_write_csv(tmp_path / "empty.csv", []).read_text() == ""
