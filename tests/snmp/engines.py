"""A fixture that runs a test once per column-walk engine of ber.decode_columns (Python, and C when built)."""

from __future__ import annotations

from typing import Iterator

import pytest

from netwatch.net.snmp import ber

ENGINES = ["python"] + (["c"] if ber._C_BER is not None else [])


@pytest.fixture(params=ENGINES)
def ber_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    before = ber.engine()
    ber.use_engine(request.param)
    try:
        yield request.param
    finally:
        ber.use_engine(before)
