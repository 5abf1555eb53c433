"""showerflow: staged performance analysis of Cherenkov telescope arrays with Snakemake."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("showerflow")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
