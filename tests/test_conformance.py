"""Every flavor passes the same conformance checks (tests/conformance.py); a new flavor adds a case."""

from __future__ import annotations

import pytest

from conformance import CASES, CHECKS


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("case", CASES, ids=str)
def test_flavor_conforms(case, check, tmp_path):
    check(case, tmp_path)
