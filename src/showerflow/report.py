"""What the HTML report (``snakemake --report``) says about the data behind each plot.

Snakemake renders every caption (``report/*.rst``) as a Jinja template with the job's
``snakemake.config``, ``snakemake.input`` and ``snakemake.params``. The plot rules pass a
:class:`RunFacts` as ``params.facts``: a small object that names the files the plots come
from and reads them only when a caption asks (at ``snakemake --report`` time, when the
files exist). Its ``repr`` is the list of file names, so it never makes Snakemake think
the parameters changed.

The numbers themselves come from pure functions on the files: :func:`dl2_facts` (a merged
DL2 file's footer: events, runs, DL1 files, simulated showers), :func:`model_facts` (a
model's metrics document: training tables, images per telescope type).

:func:`resolved_config` collects the run's configuration as the jobs saw it (the workflow
config after schema defaults and command-line overrides, the performance config and the
model configs with their defaults), written into the report by the ``report_config`` rule.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from .contracts import ContractError
from .tables import METADATA_KEY, atomic_path

__all__ = [
    "dl2_facts",
    "model_facts",
    "RunFacts",
    "resolved_config",
    "write_resolved_config",
]


def dl2_facts(path):
    """Counts of a merged DL2 file, read from its Parquet footer only.

    Parameters
    ----------
    path : str or Path
        A (merged) DL2 Parquet file written by showerflow.

    Returns
    -------
    dict
        ``dataset`` (name), ``n_events`` (rows), ``n_runs`` (simulation records),
        ``n_files`` (DL1 files the events come from), ``n_showers`` (simulated showers,
        ``n_showers × shower_reuse`` summed over runs), ``particle`` (of the runs).
    """
    try:
        pf = pq.ParquetFile(path)
    except OSError as err:
        raise ContractError(path, f"not a readable Parquet file ({err})") from err
    raw = (pf.schema_arrow.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ContractError(path, "no 'showerflow' key-value metadata: not a showerflow DL2 file")
    meta = json.loads(raw)
    records = meta.get("simulation", [])
    particles = sorted({r.get("particle", "?") for r in records})
    return {
        "dataset": meta.get("dataset") or Path(path).stem,
        "n_events": pf.metadata.num_rows,
        "n_runs": len(records),
        "n_files": len(meta.get("inputs", [])),
        "n_showers": sum(int(r["n_showers"]) * int(r.get("shower_reuse", 1)) for r in records),
        "particle": ", ".join(particles),
    }


def model_facts(metrics):
    """Counts of a model's training, from its metrics document.

    Parameters
    ----------
    metrics : dict or str or Path
        The metrics document (or its JSON file) written by the training stage.

    Returns
    -------
    dict
        ``n_tables`` (training tables), ``n_train`` and ``n_test`` (images, all
        telescope types), ``tel_types`` (comma-separated), ``per_tel_type``
        (``{type: {"n_train", "n_test"}}``).
    """
    if not isinstance(metrics, dict):
        metrics = json.loads(Path(metrics).read_text())
    per_type = metrics.get("per_tel_type", {})
    return {
        "n_tables": len(metrics.get("training_inputs", [])),
        "n_train": sum(int(v.get("n_train", 0)) for v in per_type.values()),
        "n_test": sum(int(v.get("n_test", 0)) for v in per_type.values()),
        "tel_types": ", ".join(sorted(per_type)),
        "per_tel_type": per_type,
    }


class RunFacts:
    """Counts of the files behind a plot, read lazily when a report caption asks.

    Parameters
    ----------
    dl2 : dict, optional
        ``{particle: merged DL2 path}``; ``facts.dl2["gamma"]`` gives :func:`dl2_facts`.
    metrics : dict, optional
        ``{model: metrics JSON path}``; ``facts.models["energy"]`` gives
        :func:`model_facts`.
    performance : str, optional
        The performance config; ``facts.performance`` gives it with its defaults.

    Notes
    -----
    Reading happens on attribute access (``dl2``, ``models``), never at construction:
    Snakemake builds the object when it plans the job, before the files exist. ``repr``
    is the file list, stable across runs, which is what Snakemake stores to detect
    changed parameters.
    """

    def __init__(self, dl2=None, metrics=None, performance=None):
        self._dl2 = dict(dl2 or {})
        self._metrics = dict(metrics or {})
        self._performance = performance

    @property
    def dl2(self):
        """``{particle: dl2_facts(path)}`` of the merged DL2 files."""
        return {name: dl2_facts(path) for name, path in self._dl2.items()}

    @property
    def models(self):
        """``{model: model_facts(path)}`` of the metrics documents."""
        return {name: model_facts(path) for name, path in self._metrics.items()}

    @property
    def performance(self):
        """The performance config with its defaults (``{}`` without one)."""
        from .performance import load_performance_config

        return load_performance_config(self._performance) if self._performance else {}

    def __repr__(self):
        return (
            f"RunFacts(dl2={self._dl2!r}, metrics={self._metrics!r}, "
            f"performance={self._performance!r})"
        )

    def __eq__(self, other):
        return isinstance(other, RunFacts) and repr(self) == repr(other)

    def __hash__(self):
        return hash(repr(self))


def resolved_config(config, performance, models):
    """The configuration of a run as the jobs saw it, as one document.

    Parameters
    ----------
    config : dict
        The workflow config (after schema defaults and ``--config`` overrides).
    performance : dict
        The performance config with its defaults
        (:func:`showerflow.performance.load_performance_config`).
    models : dict
        ``{model: config}`` with defaults (:func:`showerflow.config.load_model_config`).

    Returns
    -------
    dict
        ``{"workflow": config, "performance": performance, "models": models}``, plain
        JSON-compatible types.
    """
    doc = {"workflow": config, "performance": performance, "models": models}
    return json.loads(json.dumps(doc, default=str))


def write_resolved_config(doc, path):
    """Write :func:`resolved_config` as commented YAML, atomically.

    Parameters
    ----------
    doc : dict
    path : str or Path
    """
    header = (
        "# The configuration of this showerflow run as the jobs saw it: the workflow config\n"
        "# after schema defaults and command-line overrides (workflow), the performance\n"
        "# config (performance) and the model configs (models), with their defaults.\n"
    )
    with atomic_path(path) as tmp:
        Path(tmp).write_text(header + yaml.safe_dump(doc, sort_keys=False))
