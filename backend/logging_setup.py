"""Structured JSON logs on stderr for every process, through structlog.

Every line is one JSON object: `ts`, `level`, `logger`, `msg`, and whatever the line was
given (an access line's method, path, status, ...). Values bound to the context (the
gateway binds `request_id` for the time of a request, the event guard for an event, the
worker the id of the request that queued the job) are added to every line written
meanwhile, by structlog's loggers and by the standard
library's alike. The level comes from the `LOG_LEVEL` setting.

structlog's own loggers (the access lines, one per request and per websocket event) render
and write their line themselves; only the standard library's lines go through its
logging machinery, which costs about three times as much per line.
"""

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import Processor

SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
]


def formatter() -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*SHARED, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("msg"),
            structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
        ],
    )


class _NamedWriter(structlog.WriteLogger):
    """A logger writing rendered lines to a stream, with the name it was asked for
    (`structlog.get_logger("library.access")`), for `add_logger_name`."""

    def __init__(self, stream: TextIO, name: str) -> None:
        super().__init__(stream)
        self.name = name


def configure_logging(level: int | str | None = None) -> None:
    """Every line, the standard library's and structlog's, as one JSON object on stderr.
    Once per process: a later call sets only the standard library's level."""
    root = logging.getLogger()
    if level is None:
        from backend.settings import get_settings

        level = get_settings().log_level
    root.setLevel(level)
    if any(isinstance(h.formatter, structlog.stdlib.ProcessorFormatter) for h in root.handlers):
        return
    out = sys.stderr

    def named_writer(*args: Any) -> _NamedWriter:
        return _NamedWriter(out, str(args[0]) if args else "")

    structlog.configure(
        processors=[
            *SHARED,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("msg"),
            structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
        ],
        logger_factory=named_writer,
        wrapper_class=structlog.make_filtering_bound_logger(root.level),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter())
    root.addHandler(handler)
