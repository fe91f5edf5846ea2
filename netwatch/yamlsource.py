"""YAML text to plain values, remembering where every value stood in the file."""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

Path = tuple[str | int, ...]

_ENV_RE = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)\})")
# A config repeats small blocks through aliases; past this many values copied out of aliases the
# file is an alias bomb (billion laughs: a few lines that expand to 10**9 values) and is refused.
MAX_ALIAS_VALUES = 100_000


class _AliasBomb(Exception):
    def __init__(self, node: yaml.Node, path: Path) -> None:
        self.node, self.path = node, path


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """One or more problems in a config file; str() gives one `file:line:col: path: msg` per line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


@dataclass
class Source:
    """A parsed file: plain values plus the (line, column) of each path, 1-based."""

    file: str
    value: Any
    marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    secrets: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)

    def mark(self, path: Path) -> tuple[int, int]:
        while path:
            if path in self.marks:
                return self.marks[path]
            path = path[:-1]
        return self.marks.get((), (1, 1))

    def error(self, path: Path, message: str) -> None:
        line, col = self.mark(path)
        self.problems.append(Problem(self.file, line, col, format_path(path), message))

    def raise_if_problems(self) -> None:
        if self.problems:
            self.problems.sort(key=lambda p: (p.line, p.column))
            raise ConfigError(self.problems)

    def interpolate(self, text: str, path: Path) -> str:
        """Replace ${VAR} from the environment; `$$` is a literal `$`. Values are secrets."""

        def sub(m: re.Match[str]) -> str:
            if m.group(1) == "$":
                return "$"
            name = m.group(2)
            if name not in self.env:
                self.error(path, f"environment variable {name} is not set")
                return ""
            value = self.env[name]
            if value:
                self.secrets.add(value)
            return value

        return _ENV_RE.sub(sub, text) if "$" in text else text

    def read_secret_file(self, file_path: str, path: Path) -> str | None:
        base = os.path.dirname(os.path.abspath(self.file))
        full = file_path if os.path.isabs(file_path) else os.path.join(base, file_path)
        try:
            with open(full, encoding="utf-8") as f:
                value = f.read().rstrip("\r\n")
        except OSError as exc:
            self.error(path, f"cannot read secret file {file_path}: {exc.strerror or exc}")
            return None
        if value:
            self.secrets.add(value)
        return value


# libyaml's loader keeps node marks too and composes ~10x faster than the pure-Python one.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse(text: str, file: str, env: Mapping[str, str] | None = None) -> Source:
    """Parse YAML into a Source; syntax errors and duplicate keys become Problems."""
    src = Source(file=file, value=None, env=os.environ if env is None else env)
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            src.value = _walk(loader, node, (), src, _Budget()) if node is not None else {}
        finally:
            loader.dispose()
    except _AliasBomb as bomb:
        mark = bomb.node.start_mark
        src.problems.append(Problem(file, mark.line + 1, mark.column + 1, format_path(bomb.path),
                                    f"YAML aliases expand to more than {MAX_ALIAS_VALUES} values; "
                                    "refusing the file (write the values out, or use fewer aliases)"))
    except RecursionError:
        src.problems.append(Problem(file, 1, 1, "", "invalid YAML: nested too deeply"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = exc.problem or str(exc)
        if exc.context:
            msg = f"{exc.context}: {msg}"
        src.problems.append(Problem(file, line, col, "", f"invalid YAML: {msg}"))
    except yaml.YAMLError as exc:
        src.problems.append(Problem(file, 1, 1, "", f"invalid YAML: {exc}"))
    return src


@dataclass
class _Budget:
    """Values walked so far that an alias copied: the composer shares one node for every alias."""

    seen: set[int] = field(default_factory=set)
    alias_values: int = 0


def _walk(loader: "yaml.SafeLoader", node: yaml.Node, path: Path, src: Source, budget: _Budget,
          aliased: bool = False) -> Any:
    if aliased or id(node) in budget.seen:
        aliased = True
        budget.alias_values += 1
        if budget.alias_values > MAX_ALIAS_VALUES:
            raise _AliasBomb(node, path)
    else:
        budget.seen.add(id(node))
    src.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                src.marks[path + ("<<",)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                src.error(path + ("<<",), "YAML merge keys are not supported; repeat the keys")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                src.problems.append(Problem(src.file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                            format_path(path), "a key must be plain text, not a list or mapping"))
                continue
            key = loader.construct_object(key_node)
            if not isinstance(key, str):
                key = str(key)
            kpath = path + (key,)
            if key in out:
                src.marks[kpath] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                src.error(kpath, "duplicate key")
                continue
            out[key] = _walk(loader, value_node, kpath, src, budget, aliased)
            # Point errors about a key at the key itself, where a reader looks first.
            src.marks[kpath] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(loader, item, path + (i,), src, budget, aliased) for i, item in enumerate(node.value)]
    value = loader.construct_object(node)
    if isinstance(value, (dt.date, dt.datetime)) or isinstance(value, bytes):
        # Keep timestamps as the text the operator wrote; typed fields parse them with a time zone.
        return node.value
    return value
