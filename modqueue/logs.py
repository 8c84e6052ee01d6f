"""Structured logs for long-running commands, with secrets redacted.

`configure_logging(json_lines=True)` writes one JSON object per line (`ts`, `level`,
`logger`, `msg`, plus the record's extra fields such as `source` or `job`); otherwise
plain `ts level logger: msg key=value` lines. Every value registered with
`add_secret()` (tokens read from `token_env`, platform secrets) is replaced by
`[redacted]` in whatever is written, whichever way it got into a message.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import IO, Any

__all__ = ["REDACTED", "JsonFormatter", "TextFormatter", "add_secret", "configure_logging"]

REDACTED = "[redacted]"
_SECRETS: set[str] = set()
_GUARD = threading.Lock()
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
MIN_SECRET_LENGTH = 4


def add_secret(value: str | None) -> None:
    """Never write `value` to the logs (values shorter than 4 characters are ignored:
    redacting them would garble ordinary words)."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _GUARD:
            _SECRETS.add(value)


def _redact(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line, secrets redacted."""
        out: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(_extras(record))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return _redact(json.dumps(out, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """`ts level logger: msg key=value ...`, secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of text (plus a traceback when there is one)."""
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{_timestamp(record)} {record.levelname.lower()} {record.name}: "
        line += record.getMessage() + (f" {extras}" if extras else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return _redact(line)


def configure_logging(
    *, json_lines: bool = False, level: str = "INFO", stream: IO[str] | None = None
) -> logging.Handler:
    """Send modqueue's logs (and warnings from libraries) to `stream` (default stderr).

    Returns the handler installed on the root logger (replacing earlier ones).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("modqueue").setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
