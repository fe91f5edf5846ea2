"""The `report:` config section: targets in percent, per zone and per check, with exact errors."""

from __future__ import annotations

import pytest

from netwatch.config import ConfigError, loads


def test_defaults_and_overrides() -> None:
    assert loads("{}").report.sla_target == 99.9
    rs = loads("report:\n  sla_target: 99\n  zones: {hall: 99.99}\n  checks: {portal/http: 98.5}\n"
               "zones: [{id: hall}]\ntargets: [{id: portal, host: 127.0.0.1}]\n").report
    assert (rs.sla_target, dict(rs.zones), dict(rs.checks)) == (99.0, {"hall": 99.99}, {"portal/http": 98.5})


@pytest.mark.parametrize("text, message", [
    ("report:\n  sla_target: 101\n", "<config>:2:3: report.sla_target: must be a percentage above 0 and at most 100, e.g. 99.9"),
    ("zones: [{id: hall}]\nreport:\n  zones: {hall: 0}\n", "<config>:3:11: report.zones.hall: must be a percentage above 0 and at most 100, e.g. 99.9"),
    ("report:\n  sla_target: high\n", "<config>:2:3: report.sla_target: must be a number, not string 'high'"),
    ("report:\n  target: 99\n", "<config>:2:3: report.target: unknown key; did you mean 'sla_target'? (known keys: checks, document, sla_target, "
     "zones)"),
])
def test_bad_targets_are_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        loads(text)
    assert str(exc.value) == message
