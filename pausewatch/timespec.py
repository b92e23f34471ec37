"""Durations and instants as people write them: ``"90s"``, ``"1h30m"``, RFC 3339.

One place for every role: scenarios (``sim``), and the time flags of every command
(:func:`parse_time_flag`: an RFC 3339 instant, or a duration meaning that long before now).
Pure: the caller passes ``now``."""

from __future__ import annotations

import datetime as dt
import re

from pausewatch.clock import NS_PER_S

__all__ = ["format_duration", "format_rfc3339", "parse_duration_ns", "parse_instant_ns", "parse_time_flag"]

_PART = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT_NS = {
    "ms": 1_000_000,
    "s": NS_PER_S,
    "m": 60 * NS_PER_S,
    "h": 3600 * NS_PER_S,
    "d": 86_400 * NS_PER_S,
}


def parse_duration_ns(value: object) -> int:
    """``"1h30m"`` / ``"45s"`` / ``"0"`` / an integer number of seconds → ns.

    Raises ValueError with a message meant for the scenario author.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as \"90s\" or \"2h\", got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a duration cannot be negative ({value})")
        return value * NS_PER_S
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as \"90s\" or \"2h\", got {type(value).__name__}")
    text = value.strip()
    if text == "0":
        return 0
    pos = 0
    total = 0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"{value!r} is not a duration (use e.g. \"90s\", \"15m\", \"1h30m\")")
    return total


def parse_instant_ns(value: object) -> int:
    """A TOML datetime with offset, an RFC 3339 string, or integer unix ns → unix ns."""
    if isinstance(value, bool):
        raise ValueError("expected an instant, got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("an instant before 1970 is not supported")
        return value
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as e:
            raise ValueError(f"{value!r} is not an RFC 3339 time: {e}") from e
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("a time needs an explicit offset, e.g. 2026-03-02T00:00:00Z")
        delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000
    raise ValueError(f"expected an RFC 3339 time, got {type(value).__name__}")


def format_duration(ns: int) -> str:
    """Inverse of ``parse_duration_ns`` for display: 5400 s → ``"1h30m"``."""
    if ns == 0:
        return "0"
    out = ""
    rest = ns
    for unit in ("d", "h", "m", "s", "ms"):
        n, rest = divmod(rest, _UNIT_NS[unit])
        if n:
            out += f"{n}{unit}"
    return out + (f"+{rest}ns" if rest else "")


def parse_time_flag(text: str, now_ns: int, *, allow_unix_ns: bool = False) -> int:
    """A command's time flag → unix ns: an RFC 3339 instant with an offset
    (``2026-03-02T00:00:00Z``), ``now``, or a duration meaning that long before ``now``
    (``90m``, ``2h``, ``1d``). With ``allow_unix_ns`` a bare integer is taken as unix
    nanoseconds (the older form some flags accepted). Raises ValueError with a message meant
    for the person who typed it."""
    text = text.strip()
    if text == "now":
        return now_ns
    if allow_unix_ns and text.isdigit():
        return int(text)
    if text[:1].isdigit() and ("-" in text or "T" in text):
        return parse_instant_ns(text)
    try:
        return now_ns - parse_duration_ns(text)
    except ValueError:
        pass
    raise ValueError(
        f"{text!r} is neither an RFC 3339 time (e.g. 2026-03-02T00:00:00Z) nor a duration before"
        " now (e.g. 90m, 2h, 1d)"
    )


def format_rfc3339(ns: int) -> str:
    """Unix ns → RFC 3339 UTC, to the second when whole, else to the nanosecond."""
    seconds, rest = divmod(ns, NS_PER_S)
    base = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}{f'.{rest:09d}'.rstrip('0') if rest else ''}Z"
