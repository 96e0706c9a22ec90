"""Structured JSON logs on stderr for every process, through structlog.

Every line is one JSON object: `ts`, `level`, `logger`, `msg`, and whatever the line was
given (an access line's method, path, status, ...). Values bound to the context (the
gateway binds `request_id` for the time of a request, the event guard for an event, the
worker the id of the request that queued the job) are added to every line written
meanwhile, by structlog's loggers and by the standard
library's alike. The level comes from the `LOG_LEVEL` setting.
"""

import logging
import sys

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


def configure_logging(level: int | str | None = None) -> None:
    root = logging.getLogger()
    if level is None:
        from backend.settings import get_settings

        level = get_settings().log_level
    root.setLevel(level)
    if any(isinstance(h.formatter, structlog.stdlib.ProcessorFormatter) for h in root.handlers):
        return
    structlog.configure(
        processors=[*SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter())
    root.addHandler(handler)
