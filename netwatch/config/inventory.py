"""Targets from a CSV inventory (what Excel saves): one row per device, errors located by row."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

# The columns people fill in; any other column becomes a label of the same name.
COLUMNS = ("id", "name", "host", "zone", "role", "profile", "parent")
MAX_INVENTORY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Row:
    """One inventory row as a raw target mapping, with where each field stood (line, column)."""

    line: int
    target: dict[str, Any]
    columns: dict[str, int]


class InventoryError(ValueError):
    """The file as a whole cannot be read (encoding, header); row problems are returned instead."""


def parse(data: bytes) -> tuple[list[Row], list[tuple[int, int, str]]]:
    """CSV bytes -> rows and problems (line, column, message). UTF-8 with or without BOM, `,` or `;`."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InventoryError(f"not UTF-8 text (byte {exc.start}): save it as \"CSV UTF-8\"") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InventoryError("empty file: the first row names the columns (id,name,host,zone,role,profile,parent)")
    names = [h.strip().lower() for h in header]
    if "id" not in names or "host" not in names:
        raise InventoryError(f"the first row must name the columns, with at least id and host "
                             f"(found: {', '.join(h for h in names if h) or 'nothing'})")
    seen: set[str] = set()
    for col, name in enumerate(names, 1):
        if not name:
            continue
        if name in seen:
            raise InventoryError(f"column {col}: column {name!r} appears twice")
        seen.add(name)
    rows: list[Row] = []
    problems: list[tuple[int, int, str]] = []
    ids: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) > len(names) and any(cell.strip() for cell in record[len(names):]):
            problems.append((line, len(names) + 1, f"more cells than columns ({len(record)} > {len(names)})"))
            continue
        cells = {name: cell.strip() for name, cell in zip(names, record) if name and cell.strip()}
        columns = {name: col for col, name in enumerate(names, 1) if name}
        target: dict[str, Any] = {}
        labels: dict[str, str] = {}
        for name, value in cells.items():
            if name in ("id", "name", "host", "zone"):
                target[name] = value
            elif name == "role":
                labels["role"] = value
            elif name == "profile":
                target["profile"] = [p for p in value.replace("|", " ").split() if p]
            elif name == "parent":
                target["depends_on"] = [p for p in value.replace("|", " ").split() if p]
            else:
                labels[name] = value
        if labels:
            target["labels"] = labels
        if "id" not in target:
            problems.append((line, columns["id"], "missing id"))
            continue
        if target["id"] in ids:
            problems.append((line, columns["id"], f"duplicate target id {target['id']!r} (first on line "
                                                 f"{ids[target['id']]})"))
            continue
        ids[target["id"]] = line
        rows.append(Row(line, target, columns))
    return rows, problems
