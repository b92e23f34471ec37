"""Where a key sits in a TOML file: ``tomllib`` parses values but forgets lines.

``KeyLines.scan(text)`` walks the source once and records, for every table header and every
``key = value`` line, the *resolved path* it defines — array-of-tables elements numbered the
way ``tomllib`` numbers them — and the 1-based line. A validator that holds a path such as
``("behaviour", 3, "from")`` then asks ``line_of(path)`` and names the line in its error.

The scanner understands headers (``[a.b]``, ``[[a]]``), dotted and quoted keys, and skips
multi-line strings and multi-line arrays, which is all a scenario file needs. When a path is
not found (a value written inline, say) it falls back to the nearest enclosing path it knows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["KeyLines", "Path", "format_path"]

Path = tuple[str | int, ...]

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


def format_path(path: Path) -> str:
    """``("facility", 1, "nodes")`` → ``facility[1].nodes``."""
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + p
    return out or "(top level)"


@dataclass
class KeyLines:
    """Resolved TOML paths → 1-based line numbers."""

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
                resolved = found._resolve(names, latest_array)
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
                found.lines.setdefault((*current, *key), lineno)
                value = assign.group(2)
                for delim in ('"""', "'''"):
                    if value.count(delim) % 2 == 1:
                        open_multiline = delim
                        break
                else:
                    bracket_depth = max(0, _bracket_balance(value))
        return found

    def _resolve(self, names: tuple[str, ...], latest_array: dict[tuple[str, ...], Path]) -> Path:
        """Resolve a header's names: each prefix that is an array of tables means its latest element."""
        resolved: Path = ()
        for i, name in enumerate(names):
            prefix = names[: i + 1]
            if prefix in latest_array and i < len(names) - 1:
                resolved = latest_array[prefix]
            else:
                resolved = (*resolved, name)
        return resolved

    def line_of(self, path: Path) -> int | None:
        """The line that defines ``path``, or of its nearest known ancestor; None if none."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return None


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
