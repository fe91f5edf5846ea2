"""Only netwatch/store/ talks to the database: no sqlite3/psycopg import and no SQL text anywhere else."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.arch.imports import ROOT

DRIVERS = {"sqlite3", "psycopg", "psycopg2", "psycopg_pool"}

# Upper-case keywords only: prose ("select the mailbox") and the IMAP `SELECT` verb are not SQL.
SQL = re.compile(
    r"\bSELECT\b[^;]*?\bFROM\b"
    r"|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b"
    r"|\bUPDATE\s+\w+\s+SET\b"
    r"|\bDELETE\s+FROM\b"
    r"|\bCREATE\s+(?:TEMP\s+|TEMPORARY\s+|UNIQUE\s+)?(?:TABLE|INDEX)\b"
    r"|\bPRAGMA\s+\w+"
    r"|^\s*BEGIN(?:\s+(?:IMMEDIATE|DEFERRED|EXCLUSIVE|TRANSACTION))?\s*;?\s*$"
    r"|^\s*(?:COMMIT|ROLLBACK)\s*;?\s*$")

# Owned by the `engine` branch, which moves their SQL into store/incidents.py and store/outbox.py
# on store.db's Database/Tx. The lead empties this set when both branches are merged.
PENDING = {
    "alerting/engine.py",
    "alerting/incidents.py",
    "notify/outbox.py",
    "recorder.py",
}


def strings_of(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal (implicitly joined pieces are one constant; f-strings by their literal parts)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}"
                           for v in node.values)
            out.append((node.lineno, text))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append((node.lineno, node.value))
    return out


def violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        for name in names:
            if name.split(".")[0] in DRIVERS:
                found.append(f"line {node.lineno}: imports {name}")
    for line, text in strings_of(tree):
        m = SQL.search(text)
        if m:
            found.append(f"line {line}: SQL {m.group(0)[:40]!r}")
    return found


def outside_store() -> list[Path]:
    return [p for p in sorted(ROOT.rglob("*.py")) if p.relative_to(ROOT).parts[0] != "store"]


def test_no_sql_or_driver_outside_the_store() -> None:
    problems = {}
    for path in outside_store():
        rel = path.relative_to(ROOT).as_posix()
        if rel in PENDING:
            continue
        found = violations(path)
        if found:
            problems[rel] = found
    assert problems == {}, "SQL belongs in netwatch/store/ (a repository there):\n" + "\n".join(
        f"  netwatch/{rel}: {'; '.join(found)}" for rel, found in problems.items())


def test_pending_names_real_files() -> None:
    for rel in PENDING:
        assert (ROOT / rel).exists(), f"netwatch/{rel} is gone: take it out of PENDING"


@pytest.mark.parametrize("text", [
    "SELECT id FROM incidents WHERE state=?",
    "SELECT channel, COUNT(*)\n FROM outbox",
    "INSERT INTO audit (ts) VALUES (?)",
    "INSERT OR REPLACE INTO baselines VALUES (?)",
    "UPDATE runs SET last_seen_at=?",
    "DELETE FROM results WHERE ts < ?",
    "CREATE TEMP TABLE slots (s REAL)",
    "CREATE INDEX x ON y (z)",
    "PRAGMA data_version",
    "BEGIN IMMEDIATE",
    "COMMIT",
])
def test_the_guard_sees_sql(text: str, tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text(f"X = {text!r}\n")
    assert violations(path)


@pytest.mark.parametrize("source", [
    'X = "-----BEGIN CERTIFICATE-----"',
    'X = f"SELECT {mailbox}"',
    'X = "Time to SELECT the mailbox."',
    'X = "select the rows you want from the list"',
    'import sqlite3x',
])
def test_the_guard_ignores_what_is_not_sql(source: str, tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text(source + "\n")
    assert violations(path) == []


def test_the_guard_sees_a_driver_import(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("import sqlite3\nfrom psycopg import sql\n")
    assert len(violations(path)) == 2
