"""Logging set-up shared by the scripts and the CLI."""

from __future__ import annotations

import logging
import sys

__all__ = ["setup_logging"]


def setup_logging(log_file=None, level=logging.INFO):
    """Send showerflow's log to ``log_file`` (and stderr), with timestamps.

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
    return logging.getLogger("showerflow")
