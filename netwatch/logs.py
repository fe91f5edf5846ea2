"""Logging setup with secret redaction; apprise's and urllib3's DEBUG output (which carries tokens) is muted."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Callable

# Libraries that log request URLs (paths and query strings hold tokens) below WARNING.
_CHATTY = {"apprise": logging.INFO, "urllib3": logging.WARNING, "requests": logging.WARNING}


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted line, so tracebacks (exception texts quote URLs) are masked too."""

    def __init__(self, fmt: str, redact: Callable[[str], str], tz: dt.tzinfo | None = None) -> None:
        super().__init__(fmt)
        self.redact = redact
        self.tz = tz

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        """The site's time with its offset (`2026-12-02 19:57:28.123+07:00`): the same clock as the pages and
        the board, whatever the host's time zone."""
        if self.tz is None:
            return super().formatTime(record, datefmt)
        return dt.datetime.fromtimestamp(record.created, self.tz).isoformat(sep=" ", timespec="milliseconds")


_formatter: RedactingFormatter | None = None


def setup_logging(level: str, redact: Callable[[str], str], tz: dt.tzinfo | None = None) -> None:
    global _formatter
    handler = logging.StreamHandler(sys.stderr)
    _formatter = RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", redact, tz)
    handler.setFormatter(_formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Whatever the level: apprise logs full service URLs at DEBUG, urllib3 logs request paths.
    for name, floor in _CHATTY.items():
        logging.getLogger(name).setLevel(max(floor, root.level))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def set_redaction(redact: Callable[[str], str]) -> None:
    """After a config reload: mask the new config's secrets (a rotated token) from now on."""
    if _formatter is not None:
        _formatter.redact = redact
