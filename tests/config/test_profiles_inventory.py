"""`profiles:` and `inventory:`: checks written once, devices from a spreadsheet, errors where they stand."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from netwatch.config import ConfigError, load, loads


def _load(text: str) -> object:
    return loads(textwrap.dedent(text), "venue.yaml", env={})


def _errors(text: str, path: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        if path is None:
            _load(text)
        else:
            path.write_text(textwrap.dedent(text), encoding="utf-8")
            load(str(path), env={})
    return [str(p) for p in err.value.problems]


PROFILES = """\
    zones: [{id: hall}]
    profiles:
      switch:
        match_labels: {role: switch}
        labels: {vendor: cisco}
        checks:
          - {kind: icmp, interval: 10s}
          - {kind: tcp, port: 22, id: ssh}
      web:
        checks:
          - {kind: http, url: "http://127.0.0.1:9/"}
"""


def test_profiles_by_name_and_by_labels_with_per_target_override() -> None:
    config = _load(PROFILES + """\
    targets:
      - {id: sw1, host: 127.0.0.2, zone: hall, labels: {role: switch}}
      - id: sw2
        host: 127.0.0.3
        zone: hall
        labels: {role: switch, vendor: huawei}
        profile: web
        checks:
          - {kind: icmp, interval: 2s}
          - {kind: tcp, port: 23}
    """)
    checks = {c.id: c for c in config.checks}  # type: ignore[attr-defined]
    assert sorted(checks) == ["sw1/icmp", "sw1/ssh", "sw2/http", "sw2/icmp", "sw2/ssh", "sw2/tcp"]
    assert checks["sw1/icmp"].interval_seconds == 10
    assert checks["sw2/icmp"].interval_seconds == 2          # the target's own icmp overrides the profile's
    assert checks["sw1/ssh"].settings.port == 22
    assert checks["sw1/icmp"].target.labels == {"role": "switch", "vendor": "cisco"}
    assert checks["sw2/icmp"].target.labels["vendor"] == "huawei"   # own labels win


def test_unknown_profile_and_an_error_inside_a_profile_reported_once_at_its_line() -> None:
    text = PROFILES.replace("port: 22, id: ssh", "port: 22, id: ssh, intervall: 5s") + """\
    targets:
      - {id: sw1, host: 127.0.0.2, zone: hall, labels: {role: switch}}
      - {id: sw2, host: 127.0.0.3, zone: hall, labels: {role: switch}}
      - {id: sw3, host: 127.0.0.4, zone: hall, profile: swich}
    """
    errors = _errors(text)
    assert len(errors) == 2, errors
    assert errors[0].startswith("venue.yaml:8:40: targets[0].checks[1].intervall: unknown key; did you mean "
                                "'interval'?")
    assert errors[1] == ("venue.yaml:15:44: targets[2].profile: unknown profile 'swich' (profiles: switch, web)")


def test_yaml_merge_keys_point_to_profiles() -> None:
    [error] = _errors("""\
    base: &base {kind: icmp}
    targets:
      - {id: a, host: 127.0.0.1, checks: [{<<: *base, interval: 5s}]}
    """)
    assert "YAML merge keys (<<) are not supported" in error and "`profiles:`" in error


def test_inventory_csv_with_bom_and_semicolons_merged_with_yaml_targets(tmp_path: Path) -> None:
    (tmp_path / "devices.csv").write_bytes("\ufeffid;name;host;zone;role;profile;parent;floor\r\n"
                                           "core;Lõi;127.0.0.1;hall;router;web;;1\r\n"
                                           "sw1;Switch 1;127.0.0.2;hall;switch;;core;2\r\n".encode("utf-8"))
    path = tmp_path / "venue.yaml"
    path.write_text(textwrap.dedent(PROFILES + """\
    inventory: devices.csv
    targets:
      - id: core
        checks: [{kind: icmp}]
    """), encoding="utf-8")
    config = load(str(path), env={})
    targets = {t.id: t for t in config.targets}
    assert targets["core"].name == "Lõi" and targets["core"].host == "127.0.0.1"
    assert targets["sw1"].depends_on == ("core",)
    assert targets["sw1"].labels == {"role": "switch", "floor": "2", "vendor": "cisco"}
    assert sorted(c.id for c in config.checks) == ["core/http", "core/icmp", "sw1/icmp", "sw1/ssh"]


def test_inventory_errors_are_located_by_row(tmp_path: Path) -> None:
    (tmp_path / "devices.csv").write_text("id,name,host,zone,role,profile,parent\n"
                                          "a,A,127.0.0.1,hall,,,\n"
                                          "b,B,127.0.0.2,hal,,,\n"
                                          "a,A again,127.0.0.3,hall,,,\n"
                                          "c,C,127.0.0.4,hall,,nope,ghost\n", encoding="utf-8")
    errors = _errors("""\
    zones: [{id: hall}]
    inventory: devices.csv
    """, tmp_path / "venue.yaml")
    assert errors == [
        "devices.csv:3:4: targets[1].zone: unknown zone 'hal' (zones: hall)",
        "devices.csv:4:1: duplicate target id 'a' (first on line 2)",
        "devices.csv:5:6: targets[2].profile: unknown profile 'nope' (profiles: none; define them under profiles:)",
        "devices.csv:5:7: targets[2].depends_on[0]: unknown target 'ghost'",
    ]


def test_import_command_links_the_inventory_and_refuses_a_bad_one(tmp_path: Path) -> None:
    (tmp_path / "good.csv").write_text("id,host,zone\nsw1,127.0.0.2,hall\n", encoding="utf-8")
    (tmp_path / "bad.csv").write_text("id,host,zone\nsw1,127.0.0.2,nowhere\n", encoding="utf-8")
    venue = tmp_path / "venue.yaml"
    venue.write_text("# the hall\nzones: [{id: hall}]\n", encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "netwatch", "--lang", "en", "import", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)

    bad = run("bad.csv", "-c", "venue.yaml")
    assert bad.returncode == 2 and "bad.csv:2:3: targets[0].zone: unknown zone 'nowhere'" in bad.stderr
    assert venue.read_text() == "# the hall\nzones: [{id: hall}]\n"       # left as it was
    good = run("good.csv", "-c", "venue.yaml")
    assert good.returncode == 0, good.stderr
    assert venue.read_text() == "# the hall\nzones: [{id: hall}]\ninventory: good.csv\n"   # comments kept
    again = run("good.csv", "-c", "venue.yaml")
    assert again.returncode == 0 and "already reads good.csv" in again.stdout
    new = run("good.csv", "-c", "new.yaml")
    assert new.returncode == 0, new.stderr
    assert load(str(tmp_path / "new.yaml"), env={}).targets[0].id == "sw1"
