"""Hostile config text: alias bombs and absurd nesting are refused with a located error, quickly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from netwatch.yamlsource import MAX_ALIAS_VALUES, parse
from tests.support import REPO


def bomb(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_without_expanding() -> None:
    src = parse(bomb(9), "venue.yaml")  # 10**9 values if expanded: this would never return
    assert len(src.problems) == 1
    problem = src.problems[0]
    assert problem.file == "venue.yaml" and problem.line == 1
    assert f"YAML aliases expand to more than {MAX_ALIAS_VALUES} values" in problem.message
    assert len(src.marks) <= MAX_ALIAS_VALUES + 1000


def test_ordinary_aliases_still_work() -> None:
    src = parse(bomb(3), "venue.yaml")
    assert src.problems == []
    assert len(src.value["a2"]) == 10 and src.value["a2"][9][9] == ["lol"] * 10
    text = "duty: &duty [chat, sms]\n" + "".join(f"c{i}: {{notify: *duty}}\n" for i in range(2000))
    src = parse(text, "venue.yaml")
    assert src.problems == [] and src.value["c1999"] == {"notify": ["chat", "sms"]}


def test_absurd_nesting_is_a_config_error_not_a_crash() -> None:
    src = parse("a: " + "[" * 5000 + "]" * 5000 + "\n", "venue.yaml")
    assert [p.message for p in src.problems] == ["invalid YAML: nested too deeply"]


def test_netwatch_check_refuses_a_bomb_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "venue.yaml"
    path.write_text(bomb(9))
    proc = subprocess.run([sys.executable, "-m", "netwatch", "check", "-c", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:1:" in proc.stderr and "YAML aliases expand" in proc.stderr


def test_a_complex_key_is_refused_where_it_stands() -> None:
    src = parse("targets:\n  ? [a, b]\n  : 1\n", "venue.yaml")
    assert [str(p) for p in src.problems] == [
        "venue.yaml:2:5: targets: a key must be plain text, not a list or mapping"]
