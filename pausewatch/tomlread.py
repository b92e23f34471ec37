"""One typed TOML reader: every config, document and scenario parser reads through it.

``tomllib`` parses values but forgets where they stood. :class:`Document` parses text handed
to it (reading files is the caller's business: ``pausewatch/files/`` or a role's command) and
remembers, for every key, the line that defines it (:class:`KeyLines`). A parser then walks
:class:`Table` objects with typed getters::

    doc = Document.parse(text, "verifier.toml", error=located(ConfigError))
    limits = doc.root.table("limits", None)
    if limits is not None:
        n = limits.integer("max_batch_reports", 1000, minimum=1, maximum=100_000)
        limits.done()                       # any key nobody asked for is an error

Every error has one shape, ``file:line: key: problem`` (``file: key: problem`` where no line
is known; a value set from elsewhere — an environment variable — names that origin instead),
and is built by the parser's own error factory, so each role keeps its exception type and
its exit code. ``key`` is the full dotted path (``facility[1].meter[0].scope``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from pausewatch.clock import NS_PER_S
from pausewatch.errors import FormatError, InputError, InternalError
from pausewatch.timespec import parse_duration_ns, parse_instant_ns

__all__ = [
    "FORMAT_ERROR",
    "REQUIRED",
    "Document",
    "ErrorFactory",
    "KeyLines",
    "Path",
    "Table",
    "format_path",
    "located",
    "location",
    "parse_path",
    "unknown_key",
    "value_or_text",
]

Path = tuple[str | int, ...]
# (file, line or None, key, problem) -> the exception to raise
ErrorFactory = Callable[[str, int | None, str, str], Exception]
T = TypeVar("T")
D = TypeVar("D")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required()
"""The default of a getter whose key must be present."""


def location(file: str, line: int | None, key: str, problem: str) -> str:
    """``file:line: key: problem`` — the one shape of every TOML error message."""
    where = f"{file}:{line}" if line else file
    return f"{where}: {key}: {problem}" if key else f"{where}: {problem}"


def located(kind: Callable[[str], Exception]) -> ErrorFactory:
    """An error factory for an exception type built from its message alone."""

    def make(file: str, line: int | None, key: str, problem: str) -> Exception:
        return kind(location(file, line, key, problem))

    return make


def format_path(path: Path) -> str:
    """``("facility", 1, "nodes")`` → ``facility[1].nodes``."""
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + p
    return out or "(top level)"


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\[([^\]]*)\]")


def parse_path(text: str) -> Path:
    """Inverse of :func:`format_path`: ``nodes[0].node_id`` → ``("nodes", 0, "node_id")`` (an
    element named by id, ``meters[m1]``, stays a name: it has no line, its array has)."""
    out: list[str | int] = []
    for m in _PATH_PART.finditer(text):
        key, index, named = m.groups()
        out.append(int(index) if index is not None else key if key is not None else f"[{named}]")
    return tuple(out)


def _kind(value: object) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "an array",
        dict: "a table",
        dt.datetime: "a date-time",
        dt.date: "a date",
        dt.time: "a time",
    }.get(type(value), type(value).__name__)


FORMAT_ERROR: Final = located(FormatError)
"""The default error factory: a :class:`FormatError` (documents)."""


# --------------------------------------------------------------------------------- key lines

_BARE_KEY = r"[A-Za-z0-9_-]+"
_QUOTED_KEY = r"\"(?:[^\"\\]|\\.)*\"|'[^']*'"
_KEY_PART = rf"(?:{_BARE_KEY}|{_QUOTED_KEY})"
_DOTTED_KEY = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED_KEY})\s*(\]\]?)\s*(?:#.*)?$")
_ASSIGN = re.compile(rf"^\s*({_DOTTED_KEY})\s*=\s*(.*)$")
_KEY_SPLIT = re.compile(rf"{_KEY_PART}")


def _split_key(dotted: str) -> tuple[str, ...]:
    parts = []
    for m in _KEY_SPLIT.finditer(dotted):
        raw = m.group(0)
        if raw[0] in "\"'":
            raw = raw[1:-1]
        parts.append(raw)
    return tuple(parts)


@dataclass
class KeyLines:
    """Resolved TOML paths → 1-based line numbers.

    ``KeyLines.scan(text)`` walks the source once and records, for every table header and every
    ``key = value`` line, the resolved path it defines — array-of-tables elements numbered the
    way ``tomllib`` numbers them — and its line. It understands headers (``[a.b]``, ``[[a]]``),
    dotted and quoted keys, and skips multi-line strings and arrays. A path not found (a value
    written inline) falls back to the nearest enclosing path it knows.
    """

    lines: dict[Path, int] = field(default_factory=dict)

    @classmethod
    def scan(cls, text: str) -> KeyLines:
        found = cls()
        current: Path = ()
        # For each array-of-tables name path (unresolved), the resolved path of its latest element.
        latest_array: dict[tuple[str, ...], Path] = {}
        counts: dict[Path, int] = {}
        open_multiline: str | None = None  # the closing delimiter we wait for
        bracket_depth = 0
        for lineno, line in enumerate(text.splitlines(), start=1):
            if open_multiline is not None:
                if line.count(open_multiline) % 2 == 1:
                    open_multiline = None
                continue
            if bracket_depth > 0:
                bracket_depth += _bracket_balance(line)
                continue
            header = _HEADER.match(line)
            if header:
                names = _split_key(header.group(2))
                resolved = _resolve(names, latest_array)
                if header.group(1) == "[[":
                    index = counts.get(resolved, 0)
                    counts[resolved] = index + 1
                    latest_array[names] = (*resolved, index)
                    current = (*resolved, index)
                    found.lines.setdefault(resolved, lineno)
                else:
                    current = resolved
                found.lines.setdefault(current, lineno)
                continue
            assign = _ASSIGN.match(line)
            if assign:
                key = _split_key(assign.group(1))
                for end in range(1, len(key) + 1):  # a dotted key defines its tables too
                    found.lines.setdefault((*current, *key[:end]), lineno)
                value = assign.group(2)
                for delim in ('"""', "'''"):
                    if value.count(delim) % 2 == 1:
                        open_multiline = delim
                        break
                else:
                    bracket_depth = max(0, _bracket_balance(value))
        return found

    def line_of(self, path: Path) -> int | None:
        """The line that defines ``path``, or of its nearest known ancestor; None if none."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return None


def _resolve(names: tuple[str, ...], latest_array: dict[tuple[str, ...], Path]) -> Path:
    """Resolve a header's names: each prefix that is an array of tables means its latest element."""
    resolved: Path = ()
    for i, name in enumerate(names):
        prefix = names[: i + 1]
        if prefix in latest_array and i < len(names) - 1:
            resolved = latest_array[prefix]
        else:
            resolved = (*resolved, name)
    return resolved


def _bracket_balance(text: str) -> int:
    """Net open brackets on a line, ignoring strings and comments (enough for arrays)."""
    depth = 0
    quote: str | None = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return depth


# --------------------------------------------------------------------------------- the document


class Document:
    """A parsed TOML text that knows each key's line and builds its parser's errors."""

    def __init__(
        self,
        data: dict[str, Any],
        file: str,
        *,
        lines: KeyLines | None = None,
        error: ErrorFactory = FORMAT_ERROR,
    ) -> None:
        self.data = data
        self.file = file
        self.lines = lines if lines is not None else KeyLines()
        self.make_error = error
        self._origins: dict[Path, str] = {}
        self.root = Table(self, (), data)

    @classmethod
    def parse(cls, text: str, file: str, *, error: ErrorFactory = FORMAT_ERROR) -> Document:
        """Parse ``text``; a syntax error names the line ``tomllib`` reports."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            m = re.search(r"line (\d+)", str(e))
            raise error(file, int(m.group(1)) if m else None, "(syntax)", f"not valid TOML: {e}") from None
        except RecursionError:  # tomllib's parser recurses once per level of nested arrays/tables
            raise error(file, None, "(syntax)", "not valid TOML here: nested too deeply") from None
        return cls(data, file, lines=KeyLines.scan(text), error=error)

    @classmethod
    def parse_bytes(
        cls, data: bytes, file: str, *, max_bytes: int, error: ErrorFactory = FORMAT_ERROR
    ) -> Document:
        """Parse bytes of at most ``max_bytes``, which must be UTF-8."""
        if len(data) > max_bytes:
            raise error(file, None, "", f"{len(data)} bytes; at most {max_bytes}")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise error(file, None, "(syntax)", f"not valid TOML: not UTF-8: {e}") from None
        return cls.parse(text, file, error=error)

    def line_of(self, path: Path) -> int | None:
        return self.lines.line_of(path)

    def place(self, path: Path) -> str:
        """``file:line`` of ``path`` (``file`` where no line is known)."""
        line = self.line_of(path)
        return f"{self.file}:{line}" if line else self.file

    def error(self, path: Path | str, problem: str) -> Exception:
        """The parser's error for ``path`` (a tuple, or a dotted name as a domain check spells
        it): at its line, or at the origin that set it."""
        if isinstance(path, str):
            key, path = path, parse_path(path)
        else:
            key = format_path(path) if path else ""
        for p, origin in self._origins.items():
            if path[: len(p)] == p:
                return self.make_error(origin, None, key, problem)
        return self.make_error(self.file, self.line_of(path), key, problem)

    def override(self, path: Path, value: Any, origin: str) -> None:
        """Set ``path`` (tables created as needed) from elsewhere; its errors name ``origin``."""
        *tables, last = path
        target = self.data
        for name in tables:
            existing = target.get(str(name))
            if not isinstance(existing, dict):
                existing = {}
                target[str(name)] = existing
            target = existing
        target[str(last)] = value
        self._origins[path] = origin

    def leaves(self) -> Iterator[tuple[Path, Any]]:
        """Every value that is not a table, with its path (arrays are values), in file order."""

        def walk(table: Mapping[str, Any], prefix: Path) -> Iterator[tuple[Path, Any]]:
            for k, v in table.items():
                if isinstance(v, dict):
                    yield from walk(v, (*prefix, k))
                else:
                    yield (*prefix, k), v

        yield from walk(self.data, ())


_MISSING: Final = object()


class Table:
    """A TOML table being read: typed getters, each key consumed once; :meth:`done` rejects the rest."""

    def __init__(self, doc: Document, path: Path, data: Mapping[str, Any]) -> None:
        self.doc = doc
        self.path = path
        self.data = data
        self.used: set[str] = set()

    # ----------------------------------------------------------------- where and errors

    def key_path(self, key: str | int | None = None) -> Path:
        return self.path if key is None else (*self.path, key)

    def name(self, key: str | int | None = None) -> str:
        """The dotted name of ``key`` here, as errors spell it."""
        return format_path(self.key_path(key))

    def fail(self, key: str | int | None, problem: str) -> Exception:
        """The error for ``key`` of this table (``None``: the table itself)."""
        return self.doc.error(self.key_path(key), problem)

    def line(self, key: str | int | None = None) -> int | None:
        return self.doc.line_of(self.key_path(key))

    def checked(self, key: str | int, convert: Callable[..., T], *args: Any) -> T:
        """``convert(*args)``: a domain check of ``key``'s value, whose InputError becomes this
        key's error (the check's own message as the problem)."""
        try:
            return convert(*args)
        except InputError as e:
            raise self.fail(key, str(e)) from None

    # ----------------------------------------------------------------- getters

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, default: object) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is REQUIRED:
                raise self.fail(key, "missing (required)")
            return _MISSING
        return self.data[key]

    def raw(self, key: str, default: Any = None) -> Any:
        """The value as parsed, unchecked (a parser with its own rules for it)."""
        v = self._get(key, default)
        return default if v is _MISSING else v  # raw: REQUIRED never comes back

    def string(
        self,
        key: str,
        default: D | _Required = REQUIRED,
        *,
        nonempty: bool = False,
        choices: Sequence[str] | None = None,
        pattern: re.Pattern[str] | None = None,
        what: str = "valid here",
    ) -> str | D:
        """A string; ``choices`` names the allowed ones, ``pattern`` a shape (``what`` says which)."""
        v = self._get(key, default)
        if v is _MISSING:
            return _given(default)
        if not isinstance(v, str):
            raise self.fail(key, f"must be a string, got {_kind(v)}")
        if nonempty and not v:
            raise self.fail(key, "must be a non-empty string")
        if choices is not None and v not in choices:
            raise self.fail(key, f"{v!r} is not one of {', '.join(choices)}")
        if pattern is not None and not pattern.match(v):
            raise self.fail(key, f"{v!r} is not {what}")
        return v

    def integer(
        self,
        key: str,
        default: D | _Required = REQUIRED,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | D:
        """An integer (not a boolean, not a float) within ``[minimum, maximum]``."""
        v = self._get(key, default)
        if v is _MISSING:
            return _given(default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(key, f"must be an integer, got {_kind(v)}")
        self._check_range(key, v, minimum, maximum)
        return v

    def number(
        self,
        key: str,
        default: D | _Required = REQUIRED,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float | D:
        """A finite number (integer or float, not a boolean) within ``[minimum, maximum]``, as a float."""
        v = self._get(key, default)
        if v is _MISSING:
            return _given(default)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(key, f"must be a number, got {_kind(v)}")
        if not math.isfinite(v):
            raise self.fail(key, f"must be finite, got {v}")
        self._check_range(key, v, minimum, maximum)
        return float(v)

    def _check_range(self, key: str, v: float, lo: float | None, hi: float | None) -> None:
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            low = "-∞" if lo is None else _num(lo)
            high = "∞" if hi is None else _num(hi)
            raise self.fail(key, f"{v} is out of range [{low}, {high}]")

    def boolean(self, key: str, default: D | _Required = REQUIRED) -> bool | D:
        v = self._get(key, default)
        if v is _MISSING:
            return _given(default)
        if not isinstance(v, bool):
            raise self.fail(key, f"must be true or false, got {_kind(v)}")
        return v

    def duration(self, key: str, default: D | _Required = REQUIRED) -> int | D:
        """A duration (``"1h30m"``, ``"45s"``, or whole seconds) → ns."""
        return self._parsed(key, default, parse_duration_ns)

    def signed_duration(self, key: str, default: D | _Required = REQUIRED) -> int | D:
        """A duration with an optional sign: ``"-20m"``, ``"+45s"``, ``-90`` (seconds) → ns."""
        return self._parsed(key, default, _signed_duration_ns)

    def instant(self, key: str, default: D | _Required = REQUIRED) -> int | D:
        """A TOML date-time with offset, an RFC 3339 string, or integer unix ns → unix ns."""
        return self._parsed(key, default, parse_instant_ns)

    def date_time(self, key: str, default: D | _Required = REQUIRED) -> int | D:
        """An RFC 3339 instant with an explicit offset (TOML date-time or string) → unix ns."""
        return self._parsed(key, default, _rfc3339_ns)

    def _parsed(self, key: str, default: D | _Required, parse: Callable[[Any], int]) -> int | D:
        v = self._get(key, default)
        if v is _MISSING:
            return _given(default)
        try:
            return parse(v)
        except ValueError as e:
            raise self.fail(key, str(e)) from None

    def strings(
        self,
        key: str,
        default: Sequence[str] | None = (),
        *,
        single: bool = False,
        max_items: int | None = None,
        pattern: re.Pattern[str] | None = None,
        what: str = "valid here",
    ) -> list[str]:
        """An array of strings (``single``: one string stands for a list of one) → list."""
        v = self._get(key, default)
        if v is _MISSING:
            return list(default or ())
        if single and isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            either = "a string or " if single else ""
            raise self.fail(key, f"must be {either}an array of strings, got {_kind(v)}")
        if max_items is not None and len(v) > max_items:
            raise self.fail(key, f"{len(v)} entries; at most {max_items}")
        for x in v:
            if pattern is not None and not pattern.match(x):
                raise self.fail(key, f"{x!r} is not {what}")
        return list(v)

    def table(self, key: str, default: D | _Required = REQUIRED) -> Table | D:
        """A sub-table; absent, ``default`` (``None``: say "not given" to the caller)."""
        v = self._get(key, default)
        if v is _MISSING:
            return _given(default)
        if not isinstance(v, dict):
            raise self.fail(key, f"must be a table, got {_kind(v)}")
        return Table(self.doc, self.key_path(key), v)

    def section(self, key: str) -> Table:
        """An optional sub-table; absent, an empty one (its getters give their defaults)."""
        found = self.table(key, None)
        return found if found is not None else Table(self.doc, self.key_path(key), {})

    def tables(self, key: str, *, required: bool = False, max_items: int | None = None) -> list[Table]:
        """An array of tables (``[[key]]``); ``required``: at least one entry."""
        v = self._get(key, REQUIRED if required else None)
        if v is _MISSING:
            return []
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            raise self.fail(key, f"must be an array of tables ([[{key}]]), got {_kind(v)}")
        if required and not v:
            raise self.fail(key, "needs at least one entry")
        if max_items is not None and len(v) > max_items:
            raise self.fail(key, f"{len(v)} entries; at most {max_items}")
        return [Table(self.doc, (*self.path, key, i), x) for i, x in enumerate(v)]

    def only(self, *allowed: str) -> None:
        """Declare this table's keys up front: a key not among them is an error now."""
        self._reject([k for k in self.data if k not in allowed], allowed)

    def done(self) -> None:
        """Reject keys nobody asked for, naming the first by its line, with a guess at the intent."""
        self._reject([k for k in self.data if k not in self.used], self.used)

    def _reject(self, unknown: list[str], known: Iterable[str]) -> None:
        if unknown:
            k = min(unknown, key=lambda k: (self.line(k) or 0, k))
            raise self.fail(k, unknown_key(k, known))

    def accept_all(self) -> None:
        """Mark every key as read (a table handed whole to another parser)."""
        self.used.update(self.data)


def value_or_text(text: str) -> Any:
    """A TOML value written alone (a command-line ``key=value``): ``8`` → 8, ``true`` → True,
    ``"a b"`` → "a b"; text that is no TOML value stays the text itself (``eth0`` → "eth0")."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return text


def unknown_key(key: str, known: Iterable[str]) -> str:
    """The problem of a key nobody reads: a guess at the intended one, and the ones there are."""
    names = sorted(known)
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    takes = f" (this table takes: {', '.join(names)})" if names else " (this table takes none)"
    return f"unknown key{hint}{takes}"


def _given(default: D | _Required) -> D:
    if isinstance(default, _Required):
        raise InternalError("a required key came back missing; a bug")
    return default


def _signed_duration_ns(v: Any) -> int:
    sign = 1
    if isinstance(v, str) and v.strip()[:1] in "+-":
        sign = -1 if v.strip()[0] == "-" else 1
        v = v.strip()[1:]
    elif isinstance(v, int) and not isinstance(v, bool) and v < 0:
        sign, v = -1, -v
    return sign * parse_duration_ns(v)


def _rfc3339_ns(v: Any) -> int:
    """An instant with an explicit offset, as a document must write it (no integers)."""
    if isinstance(v, str):
        try:
            v = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an RFC 3339 time: {v!r}") from None
    if not isinstance(v, dt.datetime):
        raise ValueError("must be an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z")
    if v.tzinfo is None:
        raise ValueError("needs an explicit offset (Z or +hh:mm): local times are ambiguous")
    delta = v - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


def _num(x: float) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() and abs(x) < 1e15 else str(x)
