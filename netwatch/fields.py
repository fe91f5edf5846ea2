"""Typed conversion of plain YAML values into frozen dataclasses, with located errors.

Every config section and every probe's `Settings` goes through `Converter.convert`, so the
rules are the same everywhere: unknown keys are rejected, durations need a unit, a `Secret`
field `x` may instead be given as `x_file: PATH`, and `__post_init__` validation errors
(`ValueError`, or `FieldError` to point at one field) are reported at the right line.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import functools
import re
import types
import typing
from types import MappingProxyType
from typing import Any, Literal, Mapping, Union

from netwatch.yamlsource import Path, Source

_DURATION_PART = r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)"
# One or more parts, largest unit first by habit: `30s`, `1m30s`, `1h 15m`.
_DURATION_RE = re.compile(rf"\s*(?:{_DURATION_PART}\s*)+")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class Duration(float):
    """Seconds, written in config as `500ms`, `5s`, `2m`, `1m30s`, `1h` or `7d`."""


class Secret:
    """A secret string: never printed; call reveal() at the point of use."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


class FieldError(ValueError):
    """Raised from `__post_init__` to blame one field (or a dotted sub-path) of the object."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def parse_duration(text: str) -> float:
    if not _DURATION_RE.fullmatch(text):
        raise ValueError(f"bad duration {text!r}: use a number with a unit ms, s, m, h or d, e.g. 30s or 1m30s")
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in re.findall(_DURATION_PART, text))


def frozen_map(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))


_MISSING = object()


class Converter:
    """Converts values from one Source; problems accumulate on the Source."""

    def __init__(self, src: Source) -> None:
        self.src = src

    def error(self, path: Path, message: str) -> None:
        self.src.error(path, message)

    def convert(self, value: Any, tp: Any, path: Path) -> Any:
        """Return the converted value, or _MISSING after recording a problem."""
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if tp is Any:
            return value
        if origin in (Union, types.UnionType):
            non_none = [a for a in args if a is not type(None)]
            if value is None and len(non_none) < len(args):
                return None
            if len(non_none) == 1:
                return self.convert(value, non_none[0], path)
            return self._first_of(value, non_none, path)
        if origin is Literal:
            if value not in args:
                allowed = ", ".join(repr(a) for a in args)
                self.error(path, f"must be one of {allowed}, not {value!r}")
                return _MISSING
            return value
        if origin is tuple:
            if not isinstance(value, list):
                if isinstance(value, (str, int, float)) and args and args[-1] is Ellipsis:
                    value = [value]  # a single item may be written without brackets
                else:
                    self.error(path, f"must be a list, not {_describe(value)}")
                    return _MISSING
            item_tp = args[0] if args else Any
            items = [self.convert(v, item_tp, path + (i,)) for i, v in enumerate(value)]
            return _MISSING if any(i is _MISSING for i in items) else tuple(items)
        if origin in (collections.abc.Mapping, dict) or tp in (dict, Mapping):
            if not isinstance(value, dict):
                self.error(path, f"must be a mapping, not {_describe(value)}")
                return _MISSING
            val_tp = args[1] if len(args) == 2 else Any
            out: dict[Any, Any] = {}
            for k, v in value.items():
                if val_tp is Secret and isinstance(k, str) and k.endswith("_file") and len(k) > 5:
                    # `headers: {Authorization_file: PATH}` sends `Authorization` with the file's text.
                    name = k[:-5]
                    if name in value:
                        self.error(path + (k,), f"give either {name} or {k}, not both")
                        out[name] = _MISSING
                        continue
                    out[name] = self._secret_file(v, path + (k,))
                    continue
                out[k] = self.convert(v, val_tp, path + (k,))
            return _MISSING if any(v is _MISSING for v in out.values()) else frozen_map(out)
        if dataclasses.is_dataclass(tp):
            return self.dataclass(value, tp, path)
        if tp is Duration:
            if isinstance(value, bool) or not isinstance(value, str):
                self.error(path, f"bad duration {value!r}: use a number with a unit ms, s, m, h or d, "
                                 "e.g. 30s or 1m30s")
                return _MISSING
            try:
                return Duration(parse_duration(value))
            except ValueError as exc:
                self.error(path, str(exc))
                return _MISSING
        if tp is Secret:
            if not isinstance(value, str):
                self.error(path, f"must be a string, not {_describe(value)}")
                return _MISSING
            text = self.src.interpolate(value, path)
            if text:
                self.src.secrets.add(text)
            return Secret(text)
        if tp is str:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                self.error(path, f"must be a string, not {_describe(value)}")
                return _MISSING
            return self.src.interpolate(str(value), path)
        if tp is bool:
            if not isinstance(value, bool):
                self.error(path, f"must be true or false, not {_describe(value)}")
                return _MISSING
            return value
        if tp is int:
            if isinstance(value, bool) or not isinstance(value, int):
                self.error(path, f"must be a whole number, not {_describe(value)}")
                return _MISSING
            return value
        if tp is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.error(path, f"must be a number, not {_describe(value)}")
                return _MISSING
            return float(value)
        raise TypeError(f"config field type {tp!r} is not supported")  # a programming error

    def _secret_file(self, raw: Any, path: Path, lines: bool = False) -> Any:
        """`x_file: PATH` -> Secret (or a tuple of Secrets, one per non-comment line)."""
        if not isinstance(raw, str):
            self.error(path, f"must be a file path, not {_describe(raw)}")
            return _MISSING
        text = self.src.read_secret_file(self.src.interpolate(raw, path), path)
        if text is None:
            return _MISSING
        if not lines:
            return Secret(text)
        items = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
        if not items:
            self.error(path, f"secret file {raw} holds no entries (one per line)")
            return _MISSING
        for item in items:
            self.src.secrets.add(item)
        return tuple(Secret(item) for item in items)

    def _first_of(self, value: Any, options: list[Any], path: Path) -> Any:
        saved = list(self.src.problems)
        for option in options:
            result = self.convert(value, option, path)
            if result is not _MISSING:
                self.src.problems[:] = saved
                return result
            self.src.problems[:] = saved
        return self.convert(value, options[-1], path)

    def dataclass(self, value: Any, cls: type, path: Path, extra: Mapping[str, Any] | None = None,
                  skip: frozenset[str] = frozenset(), also_known: frozenset[str] = frozenset()) -> Any:
        """Build `cls` from a mapping. `extra` supplies already-converted fields; `skip` keys are ignored;
        `also_known` keys are valid at this place but handled by the caller (listed in messages)."""
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping, not {_describe(value)}")
            return _MISSING
        hints, fields = _describe_class(cls)
        kwargs: dict[str, Any] = dict(extra or {})
        failed = False
        for key, raw in value.items():
            if key in skip:
                continue
            name = key
            shape = _secret_shape(hints.get(key[:-5])) if key not in fields and key.endswith("_file") else None
            if shape is not None:
                name = key[:-5]
                if name in value:
                    self.error(path + (key,), f"give either {name} or {key}, not both")
                    failed = True
                    continue
                if shape == "one":
                    secret = self._secret_file(raw, path + (key,))
                else:  # a list of secrets (urls, communities): one per line, `#` starts a comment
                    secret = self._secret_file(raw, path + (key,), lines=True)
                if secret is _MISSING:
                    failed = True
                    continue
                kwargs[name] = secret
                continue
            if key not in fields:
                known = sorted({k for k in fields if k not in (extra or {})} | also_known | skip)
                self.error(path + (key,), unknown_key_message(key, known))
                failed = True
                continue
            converted = self.convert(raw, hints[name], path + (key,))
            if converted is _MISSING:
                failed = True
            else:
                kwargs[name] = converted
        for name, f in fields.items():
            if name in kwargs:
                continue
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                if not (failed and name in value):
                    self.error(path, f"missing required key {name!r}")
                failed = True
        if failed:
            return _MISSING
        try:
            return cls(**kwargs)
        except FieldError as exc:
            parts: tuple[str | int, ...] = tuple(p for p in exc.field.split(".") if p)
            self.error(path + parts if parts[0] in value else path, f"{exc.message}" if parts[0] in value
                       else str(exc))
            return _MISSING
        except ValueError as exc:
            self.error(path, str(exc))
            return _MISSING


MISSING = _MISSING


def unknown_key_message(key: str, known: list[str]) -> str:
    """`unknown key; did you mean 'interval'? (known keys: ...)` — the suggestion only when one is close."""
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key{hint} (known keys: {', '.join(known)})"


@functools.lru_cache(maxsize=None)
def _describe_class(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field[Any]]]:
    """Type hints and init fields of a dataclass; resolving string annotations is slow, so once."""
    return typing.get_type_hints(cls), {f.name: f for f in dataclasses.fields(cls) if f.init}


def _secret_shape(tp: Any) -> str | None:
    """"one" for Secret or Optional[Secret], "list" for tuple[Secret, ...], None otherwise
    (a mapping of secrets takes `_file` on its own keys instead, e.g. `Authorization_file`)."""
    if tp is Secret:
        return "one"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        shapes = {_secret_shape(a) for a in args if a is not type(None)}
        return shapes.pop() if len(shapes) == 1 else None
    if origin is tuple and args and args[0] is Secret:
        return "list"
    return None


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
