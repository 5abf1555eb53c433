"""Execution backends that need more than a Snakemake plugin from PyPI: DIRAC (``dirac/``)."""

__all__: list[str] = []
