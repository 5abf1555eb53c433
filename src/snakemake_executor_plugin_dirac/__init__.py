"""Snakemake executor plugin for DIRAC: ``snakemake --executor dirac`` (``profiles/dirac``).

Snakemake finds executor plugins by this package name; the executor itself lives in
:mod:`showerflow.executors.dirac.executor` (see ``docs/dirac.md``).
"""

from showerflow.executors.dirac.executor import Executor, ExecutorSettings, common_settings

__all__ = ["ExecutorSettings", "Executor", "common_settings"]
