"""Logging set-up shared by the scripts and the CLI."""

from __future__ import annotations

import logging
import re
import sys

__all__ = ["setup_logging", "describe_error", "log_uncaught"]


def describe_error(exc):
    """One line saying what failed: the exception's class, its message and its file.

    Line breaks in the message are joined, so the log's last line holds all of it.

    ``ContractError`` messages start with the file; an ``OSError`` names its file(s)
    through ``filename`` / ``filename2`` when its message does not.

    Parameters
    ----------
    exc : BaseException

    Returns
    -------
    str
    """
    text = re.sub(r"\s*\n\s*", " ", f"{type(exc).__name__}: {exc}").strip()
    if isinstance(exc, OSError):
        for name in (exc.filename, exc.filename2):
            if name is not None and str(name) not in text:
                text += f" (file {name})"
    return text


def log_uncaught(exc_type, exc, tb):
    """``sys.excepthook`` of showerflow's processes: the job's log ends with its error.

    An exception nobody caught is logged to showerflow's log (so to the rule's log file,
    not only to Snakemake's stderr): its traceback, then one last line
    ``job failed: <class>: <message naming the file>``. Interrupts keep Python's own
    handling.
    """
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    log = logging.getLogger("showerflow")
    log.error("uncaught exception, traceback follows", exc_info=(exc_type, exc, tb))
    log.critical("job failed: %s", describe_error(exc))


def setup_logging(log_file=None, level=logging.INFO):
    """Send showerflow's log to ``log_file`` (and stderr), with timestamps.

    Also installs :func:`log_uncaught` as ``sys.excepthook``, so that a job that fails
    ends its own log with the error.

    Parameters
    ----------
    log_file : str, optional
    level : int
    """
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logging.captureWarnings(True)
    sys.excepthook = log_uncaught
    return logging.getLogger("showerflow")
