"""Logging configuration, done once per process by the CLI (and by each sweep worker).

Library modules only call ``structlog.get_logger()``. Here: a console renderer when the stream is a
terminal, JSON lines otherwise (for files, containers, ``jq``); ``auction_id`` and ``keeper_id`` are bound
through contextvars (``bound(auction_id=...)``) so every line logged inside carries them, in the simulator
and in network processes alike. Logs go to stderr: stdout is for results. The standard library's logging
(aiomqtt, amqtt) is rendered the same way.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

from auction.errors import ConfigError

LEVELS = ("debug", "info", "warning", "error")


def configure_logging(level: str = "warning", *, json: bool | None = None, stream: TextIO | None = None) -> None:
    """Set up structlog and stdlib logging: ``json`` None means JSON lines unless ``stream`` is a terminal."""
    if level not in LEVELS:
        raise ConfigError(f"--log-level: unknown level {level!r}: choose from {', '.join(LEVELS)}")
    out = stream if stream is not None else sys.stderr
    as_json = (not _isatty(out)) if json is None else json
    number = logging.getLevelNamesMapping()[level.upper()]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=True)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=_isatty(out))
    )
    # Tracebacks as data in JSON lines, without locals (they can hold keys and are large).
    no_locals = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
    tail: list[Any] = [structlog.processors.ExceptionRenderer(no_locals)] if as_json else []
    structlog.configure(
        processors=[*shared, *tail, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    # Libraries that set their own loggers' levels (dask.distributed logs at INFO) pass the root's level;
    # the handler's level holds every stdlib log line to --log-level.
    handler.setLevel(number)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(processors=[
        structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, renderer],
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared]))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(number)


@contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """Bind ids (``auction_id``, ``keeper_id``) to every log line inside the block, then unbind them."""
    with structlog.contextvars.bound_contextvars(**ids):
        yield


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
