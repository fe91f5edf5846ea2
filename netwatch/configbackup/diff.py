"""Unified diffs between masked configuration versions, and their short forms for alerts."""

from __future__ import annotations

import difflib


def unified(old: str, new: str, old_label: str = "baseline", new_label: str = "current",
            context: int = 3) -> list[str]:
    """`diff -u` lines (without trailing newlines) from old to new."""
    return list(difflib.unified_diff(old.splitlines(), new.splitlines(), old_label, new_label,
                                     n=context, lineterm=""))


def changed_lines(diff_lines: list[str]) -> tuple[int, int]:
    """(added, removed) line counts of a unified diff."""
    added = sum(1 for d in diff_lines if d.startswith("+") and not d.startswith("+++"))
    removed = sum(1 for d in diff_lines if d.startswith("-") and not d.startswith("---"))
    return added, removed


def head(diff_lines: list[str], max_lines: int = 20, max_chars: int = 800) -> str:
    """The first changed hunks, capped, for an error detail or an event; says when it was cut."""
    body = [d for d in diff_lines if not d.startswith(("---", "+++"))]
    out: list[str] = []
    size = 0
    for line in body[:max_lines]:
        line = line[:200]
        if size + len(line) + 1 > max_chars:
            break
        out.append(line)
        size += len(line) + 1
    if len(out) < len(body):
        out.append(f"... ({len(body) - len(out)} more diff lines: netwatch config-diff)")
    return "\n".join(out)
