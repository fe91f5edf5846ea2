"""Logging setup with secret redaction; apprise's and urllib3's DEBUG output (which carries tokens) is muted."""

from __future__ import annotations

import logging
import sys
from typing import Callable

# Libraries that log request URLs (paths and query strings hold tokens) below WARNING.
_CHATTY = {"apprise": logging.INFO, "urllib3": logging.WARNING, "requests": logging.WARNING}


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted line, so tracebacks (exception texts quote URLs) are masked too."""

    def __init__(self, fmt: str, redact: Callable[[str], str]) -> None:
        super().__init__(fmt)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


_formatter: RedactingFormatter | None = None


def setup_logging(level: str, redact: Callable[[str], str]) -> None:
    global _formatter
    handler = logging.StreamHandler(sys.stderr)
    _formatter = RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", redact)
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
