"""The DIRAC backend: job descriptions, the client, the worker side, File Catalog datasets.

Modules of one concern each:

``jdl``
    Pure: LFNs, job names, CPU time, the JDL and the worker-node runner script.
``bridge``
    Run with DIRAC's own Python (never imported here): DIRAC's Python API answering in
    JSON, and the worker-node commands (``get-file``, ``upload-outputs``).
``client``
    :class:`DiracClient`: sends requests to the bridge, returns values or raises
    :class:`DiracError`; :func:`redact` keeps proxies out of every message.
``jobs``
    Pure: what a job status means, and the reason given when a job did not finish.
``outputs``
    Pure: File Catalog metadata and ancestors of outputs, and the per-output hook.
``checks``
    Refusals before any submission (proxy, server, LFN base, output SE, indices, JDL).
``datasets``
    Datasets selected by a File Catalog metadata query: LFNs, local copies, catalog rows.
``executor``
    The Snakemake executor (re-exported by ``snakemake_executor_plugin_dirac``).
"""

from .checks import PreflightError, preflight
from .client import BackendUnavailable, DiracClient, DiracError, dirac_python, redact
from .datasets import QueryError, fetch_dataset, find_dataset, parse_query
from .jdl import JDLError, JobSpec, build_jdl, lfn_for
from .jobs import classify_status, failure_reason
from .outputs import SIDECAR, default_metadata, file_entries

__all__ = [
    "BackendUnavailable",
    "DiracClient",
    "DiracError",
    "JDLError",
    "JobSpec",
    "PreflightError",
    "QueryError",
    "SIDECAR",
    "build_jdl",
    "classify_status",
    "default_metadata",
    "dirac_python",
    "failure_reason",
    "fetch_dataset",
    "file_entries",
    "find_dataset",
    "lfn_for",
    "parse_query",
    "preflight",
    "redact",
]
