"""One JSON encoding for model values: input examples and scoring responses write the same JSON for
the same NumPy, date, bytes and pandas values."""

from __future__ import annotations

import datetime
import json

import numpy as np
import pandas as pd
import pytest

from mlnb.models import examples
from mlnb.models.encoding import json_default, records
from mlnb.serving.responses import predictions_body

VALUES = {
    "int": np.int64(3), "float": np.float32(0.5), "array": np.array([1, 2]), "object_array": np.array(["a", None]),
    "date": datetime.date(2026, 12, 1), "time": datetime.time(8, 30), "when": datetime.datetime(2026, 12, 1, 8, 30),
    "bytes": b"\x00mlnb", "set": {7}, "nat": pd.NaT, "na": pd.NA, "delta": pd.Timedelta(seconds=90),
}
EXPECTED = {
    "int": 3, "float": 0.5, "array": [1, 2], "object_array": ["a", None], "date": "2026-12-01", "time": "08:30:00",
    "when": "2026-12-01T08:30:00", "bytes": "AG1sbmI=", "set": [7], "nat": None, "na": None, "delta": "0 days 00:01:30",
}


def test_an_input_example_and_a_response_write_the_same_json(tmp_path):
    examples.save([VALUES], tmp_path)   # a list example is written as it is (a dict would mean named arrays)
    assert json.loads((tmp_path / examples.EXAMPLE_FILE).read_text()) == [EXPECTED]
    assert json.loads(predictions_body([VALUES]))["predictions"] == [EXPECTED]


def test_frames_are_written_as_row_objects():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert records(frame) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert records(frame["a"]) == [{"a": 1}, {"a": 2}]
    assert json.loads(json.dumps({"nested": frame}, default=json_default)) == {"nested": records(frame)}


def test_what_has_no_json_form_is_named():
    with pytest.raises(TypeError, match="Cannot write a object as JSON"):
        json_default(object())
