"""Structured logs: JSON lines to stderr (readable on a terminal), a request id on every line.

Log calls pass identifiers and counts only. Personal data never goes into a log call; the
access log writes the route template, never the query string or the body.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Literal

import structlog

LogFormat = Literal["auto", "json", "console"]


def configure_logging(fmt: LogFormat = "auto", level: str = "info") -> None:
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # Everything — structlog's own lines and the standard library's (uvicorn, alembic) — goes
    # through one handler, whose lock keeps lines from threads from interleaving.
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_frames_only)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log prints raw paths and query strings; ours prints route templates.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request with its full URL (query strings included) at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "alembic"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def _frames_only(record: logging.LogRecord) -> bool:
    """A standard-library record carrying an exception (uvicorn's "Exception in ASGI
    application", asyncio's unretrieved task errors) keeps the exception's type and frames,
    not its message, which may quote personal data or SQL parameters."""
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        frames = "".join(traceback.format_tb(exc.__traceback__))
        record.msg = f"{record.getMessage()} ({type(exc).__name__}, message withheld)\n{frames}"
        record.args, record.exc_info, record.exc_text = (), None, None
    return True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
