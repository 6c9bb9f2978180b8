"""``ctx``: what a resource function gets beside its identifier and arguments.

``ctx.subdir`` (a folder for the function's files) and ``ctx.logger`` (a logger writing to the
resource's rotated ``run.log``, started anew for each computation, as hadrosaur's) are made
on first use only. The logger is a fresh
``logging.Logger`` that is not registered with the logging module (``logging.getLogger``
would keep every one of them, and its open file, for the life of the process); its handler
is closed when the computation ends. Its records also propagate to the ``flightlog.resources``
logger, so the application's own logging configuration sees them.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path
from typing import Any

from .files import ResourceFiles

LOG_FORMAT = "%(asctime)s %(levelname)-8s %(message)s (%(filename)s:%(lineno)d)"
LOG_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
PARENT_LOGGER = logging.getLogger("flightlog.resources")


class Context:
    """The context of one computation of a resource."""

    __slots__ = (
        "_files",
        "_handler",
        "_log_backups",
        "_log_max_bytes",
        "_logger",
        "args",
        "attempt",
        "collection",
        "ident",
    )

    def __init__(
        self,
        collection: str,
        ident: str,
        args: Any,
        attempt: int,
        files: ResourceFiles,
        log_max_bytes: int,
        log_backups: int,
    ) -> None:
        self.collection = collection
        self.ident = ident
        self.args = args
        self.attempt = attempt
        self._files = files
        self._log_max_bytes = log_max_bytes
        self._log_backups = log_backups
        self._logger: logging.Logger | None = None
        self._handler: logging.Handler | None = None

    @property
    def subdir(self) -> Path:
        """The resource's folder for files (``paths["storage"]``), created on first use."""
        return self._files.make_storage()

    @property
    def logger(self) -> logging.Logger:
        """A logger writing to the resource's ``run.log`` (rotated), created on first use."""
        logger = self._logger
        if logger is None:
            self._files.fresh_log()  # the log holds this computation's (hadrosaur's rule)
            handler = logging.handlers.RotatingFileHandler(
                self._files.log_for_writing(),
                maxBytes=self._log_max_bytes,
                backupCount=self._log_backups,
                encoding="utf-8",
            )
            handler.setFormatter(logging.Formatter(LOG_FORMAT, LOG_DATE_FORMAT))
            logger = logging.Logger(f"flightlog.resources.{self.collection}.{self.ident}")
            logger.setLevel(logging.DEBUG)
            logger.addHandler(handler)
            logger.parent = PARENT_LOGGER
            self._logger, self._handler = logger, handler
        return logger

    @property
    def used_files(self) -> bool:
        """Whether the function made the resource's log (and so its folder)."""
        return self._logger is not None

    def log_failure(self, error: BaseException) -> None:
        """Write the traceback into the log, when the function used the log."""
        logger = self._logger
        if logger is None:
            return
        where = error.__traceback__  # the record points at the line that raised
        while where is not None and where.tb_next is not None:
            where = where.tb_next
        file, line = (
            ("", 0) if where is None else (where.tb_frame.f_code.co_filename, where.tb_lineno)
        )
        record = logger.makeRecord(
            logger.name,
            logging.ERROR,
            file,
            line,
            "computing %s failed",
            (self.ident,),
            (type(error), error, error.__traceback__),
        )
        logger.handle(record)

    def close(self) -> None:
        """Close the log file; the logger is forgotten with this context."""
        handler, logger = self._handler, self._logger
        if handler is not None and logger is not None:
            logger.removeHandler(handler)
            handler.close()
        self._handler = None

    def __repr__(self) -> str:
        return f"<flightlog resource context {self.collection}/{self.ident}>"
