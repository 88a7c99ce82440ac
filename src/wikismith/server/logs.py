"""Structured server logs: one JSON object per line with time, level, logger, request id and message, every
message redacted (keys and tokens never reach the log)."""

from __future__ import annotations

import logging
import sys
import time

import orjson

from wikismith.redact import install_log_redaction
from wikismith.server.middleware import RequestIdFilter


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        return orjson.dumps(entry).decode()


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr for the root logger (uvicorn's error log included), redacted, with request ids."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    install_log_redaction(root)
