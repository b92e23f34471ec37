"""Durations and instants as a scenario writes them: the core's :mod:`pausewatch.timespec`."""

from pausewatch.timespec import format_duration, parse_duration_ns, parse_instant_ns

__all__ = ["format_duration", "parse_duration_ns", "parse_instant_ns"]
