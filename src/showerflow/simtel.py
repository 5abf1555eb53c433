"""From sim_telarray files to ctapipe DL1: what the ``dl1`` rule runs, and its bookkeeping.

A dataset with a ``simtel`` entry names folders of sim_telarray files; the workflow runs
``ctapipe-process`` on each of them (``rules/dl1.smk``) with the dataset's
``simtel.process_config`` and writes one DL1 file per input,
``<results>/dl1_ctapipe/<dataset>/<name>.dl1.h5`` (``name``: the input's name without
``.simtel``, ``.simtel.gz`` or ``.simtel.zst``). The dataset's ``folders`` then hold that
folder and its ``format`` is ``ctapipe_hdf5``: the catalog reads the DL1 files as any
other ctapipe files.

Listing the inputs and outputs only reads folder listings, so it may run when the
Snakefile is parsed.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .config import ConfigError
from .contracts import ContractError

__all__ = [
    "SIMTEL_SUFFIX",
    "DL1_SUFFIX",
    "DL1_FOLDER",
    "simtel_name",
    "dl1_folder",
    "simtel_files",
    "dl1_outputs",
    "simtel_input",
    "process_config",
    "process_command",
    "run_ctapipe_process",
]

log = logging.getLogger("showerflow")

#: The names sim_telarray files have.
SIMTEL_SUFFIX = re.compile(r"\.simtel(\.gz|\.zst)?$")

#: The name of a DL1 file the rule writes.
DL1_SUFFIX = ".dl1.h5"

#: Folder (under the results) of the DL1 files made from sim_telarray files.
DL1_FOLDER = "dl1_ctapipe"

#: Default ctapipe-process configuration (the schema's default).
DEFAULT_PROCESS_CONFIG = "config/ctapipe/process.yaml"


def simtel_name(path):
    """The name of a sim_telarray file without its ``.simtel(.gz|.zst)`` suffix.

    Raises
    ------
    ValueError
        For a name without such a suffix.
    """
    name = Path(path).name
    if not SIMTEL_SUFFIX.search(name):
        raise ValueError(
            f"{path}: not a sim_telarray file name (expected .simtel, .simtel.gz or .simtel.zst)"
        )
    return SIMTEL_SUFFIX.sub("", name)


def dl1_folder(results, dataset):
    """``<results>/dl1_ctapipe/<dataset>``: where a dataset's DL1 files are written."""
    return os.path.join(results, DL1_FOLDER, dataset)


def simtel_files(spec):
    """The sim_telarray files of a dataset's ``simtel`` entry, by name.

    Parameters
    ----------
    spec : dict
        The dataset (with ``simtel: {folders, pattern}``).

    Returns
    -------
    dict
        ``{name: path}``, sorted by name; empty for a dataset without ``simtel``.

    Raises
    ------
    ConfigError
        When a folder does not exist, a matching file is not a sim_telarray file name, or
        two files have the same name (they would write the same DL1 file).
    """
    sim = spec.get("simtel")
    if not sim:
        return {}
    import fnmatch

    pattern = sim.get("pattern", "*.simtel*")
    found = {}
    for folder in sim["folders"]:
        if not os.path.isdir(folder):
            raise ConfigError(f"config: simtel folder '{folder}' does not exist")
        with os.scandir(folder) as it:
            for entry in sorted(it, key=lambda e: e.name):
                if not entry.is_file() or not fnmatch.fnmatch(entry.name, pattern):
                    continue
                path = os.path.join(folder, entry.name)
                try:
                    name = simtel_name(path)
                except ValueError as err:
                    raise ConfigError(f"config: simtel pattern {pattern!r}: {err}") from err
                if name in found:
                    raise ConfigError(
                        f"config: simtel files {found[name]} and {path} would both write "
                        f"{name}{DL1_SUFFIX}"
                    )
                found[name] = path
    return dict(sorted(found.items()))


def dl1_outputs(config, dataset):
    """The DL1 files the ``dl1`` rule writes for a dataset: the catalog's inputs.

    Parameters
    ----------
    config : dict
        The analysis config.
    dataset : str

    Returns
    -------
    list of str
        ``<results>/dl1_ctapipe/<dataset>/<name>.dl1.h5`` per sim_telarray file; empty
        for a dataset without ``simtel``.
    """
    folder = dl1_folder(config["results"], dataset)
    names = simtel_files(config["datasets"][dataset])
    return [os.path.join(folder, f"{name}{DL1_SUFFIX}") for name in names]


def simtel_input(config, dataset, name):
    """The sim_telarray file whose DL1 is ``<name>.dl1.h5`` of a dataset.

    Raises
    ------
    ConfigError
        When the dataset has no such file.
    """
    files = simtel_files(config["datasets"][dataset])
    if name not in files:
        raise ConfigError(
            f"config: dataset '{dataset}' has no sim_telarray file named {name} "
            f"(has {sorted(files)[:5]}{' ...' if len(files) > 5 else ''})"
        )
    return files[name]


def process_config(config, dataset):
    """The ctapipe-process configuration of a dataset's sim_telarray files."""
    return config["datasets"][dataset]["simtel"].get("process_config", DEFAULT_PROCESS_CONFIG)


def ctapipe_tool(name):
    """The path of a ctapipe command-line tool: on ``PATH``, else beside this Python.

    A workflow run from a virtual environment that was not activated (``.venv/bin/snakemake``)
    has the tools next to its interpreter but not on ``PATH``.

    Raises
    ------
    ConfigError
        When neither has it: ctapipe (the ``ctapipe`` extra) is not installed.
    """
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise ConfigError(
            f"{name} not found on PATH nor beside {sys.executable}: install the ctapipe "
            "extra (pip install -e '.[ctapipe]') to process sim_telarray files"
        )
    return found


def process_command(simtel, output, config_file, provenance_log, log_file=None):
    """The ``ctapipe-process`` command line for one file.

    Parameters
    ----------
    simtel, output, config_file, provenance_log : str or Path
    log_file : str or Path, optional
        ctapipe's own log file.

    Returns
    -------
    list of str
    """
    cmd = [
        ctapipe_tool("ctapipe-process"),
        f"--input={simtel}",
        f"--output={output}",
        f"--config={config_file}",
        f"--provenance-log={provenance_log}",
        "--log-level=INFO",
    ]
    if log_file is not None:
        cmd.append(f"--log-file={log_file}")
    return cmd


def run_ctapipe_process(simtel, output, config_file, provenance_log, log_file=None):
    """Run ``ctapipe-process`` on one sim_telarray file, writing the DL1 file atomically.

    ctapipe writes to a temporary name next to ``output``, renamed when it finished, so
    a killed job leaves no file that looks finished.

    Raises
    ------
    ContractError
        When ctapipe-process fails (its exit code and the end of its output).
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # the atomic_path pattern, with the .h5 suffix ctapipe's writer expects
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp.h5")
    try:
        cmd = process_command(simtel, tmp, config_file, provenance_log, log_file)
        log.info("running %s", " ".join(map(str, cmd)))
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise ContractError(
                simtel,
                f"ctapipe-process failed (exit code {res.returncode}; its log: "
                f"{log_file or 'stderr'}):\n{(res.stdout + res.stderr)[-4000:]}",
            )
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()
    return Path(output)
