"""One number format across mlnb: tables, cards, the evaluation panel and the run browser."""

import math

import numpy as np
import pytest

from mlnb.formatting import format_duration, format_number, format_size, format_time


@pytest.mark.parametrize("value, text", [
    (0.912345, "0.9123"),
    (20240.5, "20,240"),
    (123.456, "123.5"),
    (1234567, "1,234,567"),
    (np.int64(42), "42"),
    (np.float32(0.25), "0.25"),
    (3.0, "3"),
    (0.5, "0.5"),
    (-0.00012, "-0.00012"),
    (1.2345e-5, "1.234e-05"),
    (2.5e16, "2.500e+16"),
    (0.0, "0"),
    (math.inf, "∞"),
    (-math.inf, "-∞"),
    (True, "True"),
    ("lbfgs", "lbfgs"),
])
def test_numbers_read_the_same_everywhere(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize("missing", [None, math.nan, np.nan, np.float64("nan")])
def test_missing_values_are_blank_not_nan(missing):
    assert format_number(missing) == ""


def test_times_durations_and_sizes():
    assert format_time(None) == ""
    assert len(format_time(1_700_000_000_000)) == len("2023-11-14 22:13:20")
    assert format_duration(1000, 2500) == "1.5s"
    assert format_duration(0, 65_000) == ""  # no start time recorded
    assert format_duration(1000, 1000 + 125_000) == "2m 5s"
    assert format_duration(1000, 1000 + 3_723_000) == "1h 2m"
    assert format_duration(1000, None) == ""
    assert format_size(512) == "512 B"
    assert format_size(2048) == "2.0 KB"
    assert format_size(5 * 1024 ** 3) == "5.0 GB"
