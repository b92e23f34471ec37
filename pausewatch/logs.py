"""The one structured log format every pausewatch daemon writes (attestor, verifier): one JSON
object per line on stderr, made by python-json-logger.

Fields, in this order: ``time`` (RFC 3339 UTC, milliseconds), ``level`` (lower case),
``logger``, ``message``, then the record's own fields: those passed flat
(``extra={"port": 7443}``) and those passed as one dict (``extra={"fields": {...}}``, the
attestor's habit) land side by side at the top level. An exception adds ``exc_info``.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from pythonjsonlogger.json import JsonFormatter

__all__ = ["LOG_FIELDS", "PausewatchJsonFormatter", "setup_json_logging"]

LOG_FIELDS = ("time", "level", "logger", "message")


class PausewatchJsonFormatter(JsonFormatter):
    def __init__(self) -> None:
        super().__init__(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802  # logging's name
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        log_data["level"] = str(log_data.get("level", "")).lower()
        fields = log_data.pop("fields", None)
        if isinstance(fields, dict):
            log_data.update(fields)
        return log_data


def setup_json_logging(level: int | str = logging.INFO) -> None:
    """Every log line of this process to stderr in the format above."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PausewatchJsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
