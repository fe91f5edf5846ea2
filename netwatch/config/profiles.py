"""`profiles:` and `inventory:` expanded into plain targets before the config is converted.

A profile is a reusable set of checks (plus labels) applied by name (`profile: switch`) or to
every target whose labels match (`match_labels: {role: switch}`); a target's own check with the
same id (or, without ids, the same kind) overrides the profile's keys. Errors in a profile's
check point at the profile's lines.
"""

from __future__ import annotations

import os
from typing import Any

from netwatch.config import inventory
from netwatch.yamlsource import Path, Source

PROFILE_KEYS = frozenset({"checks", "labels", "match_labels", "description"})


def expand(src: Source) -> None:
    """Rewrite `src.value["targets"]` in place: inventory rows added, profiles applied."""
    raw = src.value
    targets = raw.get("targets")
    if targets is None:
        targets = []
    if not isinstance(targets, list):
        return  # reported by the converter
    if "inventory" in raw:
        targets = _add_inventory(src, raw["inventory"], targets)
    profiles = _profiles(src, raw.get("profiles"))
    _Expander(src, profiles).apply(targets)
    raw["targets"] = targets


def _add_inventory(src: Source, value: Any, targets: list[Any]) -> list[Any]:
    files = [value] if isinstance(value, str) else value
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        src.error(("inventory",), "must be a CSV file path or a list of them")
        return targets
    base = os.path.dirname(os.path.abspath(src.file))
    by_id = {t.get("id"): i for i, t in enumerate(targets) if isinstance(t, dict)}
    out = list(targets)
    for k, name in enumerate(files):
        where: Path = ("inventory", k) if isinstance(value, list) else ("inventory",)
        full = name if os.path.isabs(name) else os.path.join(base, name)
        try:
            with open(full, "rb") as f:
                data = f.read(inventory.MAX_INVENTORY_BYTES + 1)
        except OSError as exc:
            src.error(where, f"cannot read inventory {name}: {exc.strerror or exc}")
            continue
        if len(data) > inventory.MAX_INVENTORY_BYTES:
            src.error(where, f"inventory {name} is larger than {inventory.MAX_INVENTORY_BYTES >> 20} MiB")
            continue
        try:
            rows, problems = inventory.parse(data)
        except inventory.InventoryError as exc:
            src.error(where, f"inventory {name}: {exc}")
            continue
        for line, col, message in problems:
            src.error_at(name, line, col, message)
        for row in rows:
            ident = row.target["id"]
            if ident in by_id:
                # The YAML target with the same id adds to (and wins over) the inventory row.
                i = by_id[ident]
                mine = out[i]
                labels = {**row.target.get("labels", {}), **(mine.get("labels") or {})} \
                    if isinstance(mine.get("labels", {}), dict) else mine.get("labels")
                out[i] = {**row.target, **mine, **({"labels": labels} if labels else {})}
                continue
            i = len(out)
            by_id[ident] = i
            out.append(row.target)
            src.files[("targets", i)] = name
            src.marks[("targets", i)] = (row.line, 1)
            for key in row.target:
                column = row.columns.get({"depends_on": "parent", "labels": "role"}.get(key, key), 1)
                src.marks[("targets", i, key)] = (row.line, column)
                src.files[("targets", i, key)] = name
    return out


def _profiles(src: Source, value: Any) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        src.error(("profiles",), "must be a mapping of profile names to {checks, labels, match_labels}")
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, profile in value.items():
        path: Path = ("profiles", name)
        if not isinstance(profile, dict):
            src.error(path, "a profile must be a mapping with checks (and optionally labels, match_labels)")
            continue
        ok = True
        for key in profile:
            if key not in PROFILE_KEYS:
                src.error(path + (key,), f"unknown key (known keys: {', '.join(sorted(PROFILE_KEYS))})")
                ok = False
        checks = profile.get("checks") or []
        if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
            src.error(path + ("checks",), "must be a list of checks (mappings with a kind)")
            ok = False
        for key in ("labels", "match_labels"):
            if key in profile and not isinstance(profile[key], dict):
                src.error(path + (key,), "must be a mapping of label names to values")
                ok = False
        if ok:
            out[str(name)] = profile
    return out


class _Expander:
    def __init__(self, src: Source, profiles: dict[str, dict[str, Any]]) -> None:
        self.src = src
        self.profiles = profiles
        # Marks below each profile check, copied to every target that receives the check.
        self._marks: dict[Path, list[tuple[Path, tuple[int, int]]]] = {}
        for name, profile in profiles.items():
            for j in range(len(profile.get("checks") or [])):
                origin: Path = ("profiles", name, "checks", j)
                self._marks[origin] = []
        if self._marks:
            for mark_path, mark in src.marks.items():
                if len(mark_path) >= 4 and mark_path[:4] in self._marks:
                    self._marks[mark_path[:4]].append((mark_path[4:], mark))

    def apply(self, targets: list[Any]) -> None:
        # The marks under each target's own checks, gathered in one pass (only needed with profiles).
        self._own: dict[int, dict[Path, tuple[int, int]]] = {}
        if self.profiles:
            for mark_path, mark in self.src.marks.items():
                if len(mark_path) >= 4 and mark_path[0] == "targets" and mark_path[2] == "checks":
                    self._own.setdefault(mark_path[1], {})[mark_path] = mark  # type: ignore[index]
        for i, target in enumerate(targets):
            if isinstance(target, dict) and ("profile" in target or self.profiles):
                targets[i] = self._target(i, target)

    def _target(self, i: int, target: dict[str, Any]) -> dict[str, Any]:
        path: Path = ("targets", i)
        own_marks = self._own.get(i, {})
        named = target.get("profile", [])
        if isinstance(named, str):
            named = [named]
        if not isinstance(named, list) or not all(isinstance(n, str) for n in named):
            self.src.error(path + ("profile",), "must be a profile name or a list of them")
            named = []
        applied: list[str] = []
        for k, name in enumerate(named):
            if name not in self.profiles:
                known = ", ".join(sorted(self.profiles)) or "none; define them under profiles:"
                self.src.error(path + ("profile",), f"unknown profile {name!r} (profiles: {known})")
            elif name not in applied:
                applied.append(name)
        labels = target.get("labels") if isinstance(target.get("labels"), dict) else {}
        for name, profile in self.profiles.items():
            match = profile.get("match_labels")
            if match and name not in applied and all(str(labels.get(k)) == str(v) for k, v in match.items()):
                applied.append(name)
        out = {k: v for k, v in target.items() if k != "profile"}
        if not applied:
            return out
        merged_labels: dict[str, Any] = {}
        checks: list[dict[str, Any]] = []
        origins: list[list[Path]] = []
        index: dict[str, int] = {}
        for name in applied:
            profile = self.profiles[name]
            merged_labels.update(profile.get("labels") or {})
            for j, check in enumerate(profile.get("checks") or []):
                check = dict(check)
                ident = check.get("id")
                if isinstance(ident, str) and "/" not in ident:
                    check["id"] = f"{target.get('id')}/{ident}"  # check ids are global: one per target
                key = str(ident if ident is not None else check.get("kind"))
                origin: Path = ("profiles", name, "checks", j)
                if key in index:
                    checks[index[key]] = {**checks[index[key]], **check}
                    origins[index[key]].append(origin)
                else:
                    index[key] = len(checks)
                    checks.append(check)
                    origins.append([origin])
        own = target.get("checks") or []
        own_origins: list[tuple[int, int]] = []  # (new index, own index)
        if isinstance(own, list):
            for k, check in enumerate(own):
                key = str(check.get("id", check.get("kind"))) if isinstance(check, dict) else None
                if key is not None and key in index:
                    checks[index[key]] = {**checks[index[key]], **check}
                    own_origins.append((index[key], k))
                else:
                    own_origins.append((len(checks), k))
                    checks.append(check)
                    origins.append([])
        else:
            return out  # `checks: must be a list` is reported later
        # Marks: the profile's lines first, then the target's own keys over them.
        for n, paths in enumerate(origins):
            for origin in paths:
                for suffix, mark in self._marks.get(origin, ()):
                    self.src.marks[path + ("checks", n) + suffix] = mark
        for n, k in own_origins:
            prefix = path + ("checks", k)
            for p, m in own_marks.items():
                if p[:4] == prefix:
                    self.src.marks[path + ("checks", n) + p[4:]] = m
        for n in range(len(checks)):
            self.src.marks.setdefault(path + ("checks", n), self.src.mark(path))
        out["checks"] = checks
        if merged_labels:
            out["labels"] = {**merged_labels, **labels}
        return out
