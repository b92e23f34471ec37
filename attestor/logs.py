"""The attestor's logs: the one format of every pausewatch daemon (:mod:`pausewatch.logs`):
JSON lines on stderr with ``time``, ``level``, ``logger``, ``message`` and the record's fields
(pass ``extra={"fields": {...}}``)."""

from __future__ import annotations

from pausewatch.logs import PausewatchJsonFormatter, setup_json_logging

__all__ = ["PausewatchJsonFormatter", "setup_json_logging"]
