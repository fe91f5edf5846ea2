"""YAML text to plain values, remembering where every value stood in the file."""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
import secrets as _secrets
import stat
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

Path = tuple[str | int, ...]

_ENV_RE = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)\})")
# A config repeats small blocks through aliases; past this many values copied out of aliases the
# file is an alias bomb (billion laughs: a few lines that expand to 10**9 values) and is refused.
MAX_ALIAS_VALUES = 100_000
# A secret file holds a token, a password or a private key: anything larger is the wrong file (or
# /dev/zero), and reading it whole would only waste memory.
MAX_SECRET_FILE_BYTES = 64 * 1024


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
    # The path as a tuple, to tell which problems an unset secret caused; not part of equality.
    where: Path = field(default=(), compare=False, repr=False)

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
    # strict: an unset secret (environment variable or missing secret file) is an error, as `run`
    # needs; otherwise a note, so `check` can validate the structure in CI without the secrets.
    strict: bool = True
    unset: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    # Values that came from another file (an inventory CSV): path prefix -> that file's name.
    files: dict[Path, str] = field(default_factory=dict)

    def mark(self, path: Path) -> tuple[int, int]:
        while path:
            if path in self.marks:
                return self.marks[path]
            path = path[:-1]
        return self.marks.get((), (1, 1))

    def error(self, path: Path, message: str) -> None:
        line, col = self.mark(path)
        self.problems.append(Problem(self.file_of(path), line, col, format_path(path), message, path))

    def error_at(self, file: str, line: int, column: int, message: str) -> None:
        """A problem in another file than the config (an inventory row)."""
        self.problems.append(Problem(file, line, column, "", message))

    def file_of(self, path: Path) -> str:
        """The file of the mark `mark(path)` finds: the config, or the inventory a value came from."""
        if self.files:
            while path:
                if path in self.marks:
                    return self.files.get(path, self.file)
                path = path[:-1]
        return self.file

    def note(self, path: Path, message: str) -> None:
        """Something worth saying that does not make the config invalid (e.g. a readable secret file)."""
        line, col = self.mark(path)
        note = Problem(self.file, line, col, format_path(path), message, path)
        if note not in self.notes:
            self.notes.append(note)

    def missing_secret(self, path: Path, what: str) -> str:
        """Record an unset secret and return a stand-in value, so validation goes on without it.

        The stand-in is random (it passes length and guessability rules) and shaped like a chat bot
        token (`digits:hex`), which apprise URLs accept where a token or id stands, so a channel
        still shows in `check`'s summary. It never leaves `check`: with `strict` the unset secret
        is an error and no Config is built at all.
        """
        if (path, what) not in self.unset:
            self.unset.append((path, what))
        value = f"{10**9 + _secrets.randbelow(9 * 10**9)}:{_secrets.token_hex(16)}"
        self.secrets.add(value)
        return value

    def settle_unset(self) -> None:
        """One cause, one message: drop problems an unset secret caused, then report the secret."""
        causes = [_norm(p) for p, _ in self.unset]

        def caused(problem: Problem) -> bool:
            where = _norm(problem.where)
            return any(where[:len(c)] == c or (len(c) > 1 and where == c[:-1]) for c in causes)

        self.problems[:] = [p for p in self.problems if not caused(p)]
        for path, what in self.unset:
            line, col = self.mark(path)
            if self.strict:
                self.problems.append(Problem(self.file, line, col, format_path(path), f"{what} is not set", path))
            else:
                self.note(path, f"{what} is not set (`run` and `check --strict` need it)")
        self.unset.clear()
        self.notes.sort(key=lambda p: (p.line, p.column))

    def raise_if_problems(self) -> None:
        self.settle_unset()
        if self.problems:
            # A profile's check is checked once per target that uses it: say each problem once.
            unique: dict[tuple[str, int, int, str], Problem] = {}
            for p in self.problems:
                unique.setdefault((p.file, p.line, p.column, p.message), p)
            self.problems[:] = sorted(unique.values(), key=lambda p: (p.file != self.file, p.file, p.line, p.column))
            raise ConfigError(self.problems)

    def interpolate(self, text: str, path: Path) -> str:
        """Replace ${VAR} from the environment; `$$` is a literal `$`. Values are secrets."""

        def sub(m: re.Match[str]) -> str:
            if m.group(1) == "$":
                return "$"
            name = m.group(2)
            if name not in self.env:
                return self.missing_secret(path, f"environment variable {name}")
            value = self.env[name]
            if value:
                self.secrets.add(value)
            return value

        return _ENV_RE.sub(sub, text) if "$" in text else text

    def read_secret_file(self, file_path: str, path: Path) -> str | None:
        """The text of a secret file, without its final newline; None after recording a problem.

        A missing file counts as an unset secret. A file that is there but cannot be a secret
        (not a regular file, too large, not UTF-8) is an error naming the file, never its content;
        opened non-blocking, so a FIFO cannot hang the load.
        """
        base = os.path.dirname(os.path.abspath(self.file))
        full = file_path if os.path.isabs(file_path) else os.path.join(base, file_path)
        try:
            fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return self.missing_secret(path, f"secret file {file_path}")
            self.error(path, f"cannot read secret file {file_path}: {exc.strerror or exc}")
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                self.error(path, f"secret file {file_path} is not a regular file")
                return None
            if info.st_size > MAX_SECRET_FILE_BYTES:
                self.error(path, f"secret file {file_path} is larger than {MAX_SECRET_FILE_BYTES // 1024} KiB: "
                                 "not a secret (a token, password or key)")
                return None
            data = os.read(fd, MAX_SECRET_FILE_BYTES + 1)
        except OSError as exc:
            self.error(path, f"cannot read secret file {file_path}: {exc.strerror or exc}")
            return None
        finally:
            os.close(fd)
        if len(data) > MAX_SECRET_FILE_BYTES:
            self.error(path, f"secret file {file_path} is larger than {MAX_SECRET_FILE_BYTES // 1024} KiB")
            return None
        try:
            value = data.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            self.error(path, f"secret file {file_path} is not UTF-8 text")
            return None
        if info.st_mode & 0o044:
            self.note(path, f"warning: secret file {file_path} can be read by group or others "
                            f"(mode {stat.S_IMODE(info.st_mode):04o}): chmod 600 {file_path}")
        if value:
            self.secrets.add(value)
        return value


def _norm(path: Path) -> tuple[str, ...]:
    """Paths compare as text: a FieldError reports `urls.0` where the walker has `urls[0]`."""
    return tuple(str(p) for p in path)


# libyaml's loader keeps node marks too and composes ~10x faster than the pure-Python one.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse(text: str, file: str, env: Mapping[str, str] | None = None, strict: bool = True) -> Source:
    """Parse YAML into a Source; syntax errors and duplicate keys become Problems."""
    src = Source(file=file, value=None, env=os.environ if env is None else env, strict=strict)
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
        if "maximum nesting depth" in msg:
            msg = "nested too deeply"   # PyYAML >= 6.0.4 stops deep nesting itself; older ones recurse
        tab = _first_tab_indent(text)
        if tab is not None and ("\\t" in msg or tab[0] <= line):
            # PyYAML says "found character '\t' that cannot start any token"; the reader needs the cause.
            line, col = tab
            msg = "a tab character: YAML indents with spaces only; replace the tab with spaces"
        src.problems.append(Problem(file, line, col, "", f"invalid YAML: {msg}"))
    except yaml.YAMLError as exc:
        src.problems.append(Problem(file, 1, 1, "", f"invalid YAML: {exc}"))
    return src


def _first_tab_indent(text: str) -> tuple[int, int] | None:
    """(line, column) of the first tab within a line's leading whitespace, 1-based."""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip(" \t")
        indent = line[:len(line) - len(stripped)]
        if "\t" in indent or stripped.startswith("- \t"):
            return number, (indent.index("\t") if "\t" in indent else len(indent) + 2) + 1
    return None


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
                src.error(path + ("<<",), "YAML merge keys (<<) are not supported: put checks that many targets "
                                          "share in `profiles:` and name the profile in each target "
                                          "(`profile: NAME`, see docs/config.md)")
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
