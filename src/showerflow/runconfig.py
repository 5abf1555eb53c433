"""The analysis config as the workflow sees it, for commands that look at a production.

Snakemake builds the workflow's config in layers, later wins, mappings merged key by key:
the Snakefile's ``configfile: "config/config.yaml"`` (if the working directory has it),
then every ``--configfile`` in order, then ``--config KEY=VALUE`` (each value read as an
integer, a float, ``True``/``False``, YAML of plain text, or text). ``showerflow run
--test`` adds its test-mode overlay after the config files. The Snakefile then types the
text values (:func:`showerflow.config.coerce_strings`), validates the config against its
schema and cross-checks it (:func:`showerflow.workflow.check_config`).
:func:`workflow_config` does the same, so ``showerflow status --configfile a.yaml b.yaml
--config acceptance=0.9 --test`` looks at the production that ``showerflow run local
--test -- --configfile a.yaml b.yaml --config acceptance=0.9`` makes.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import yaml

from .config import ConfigError, coerce_strings, load_schema, load_yaml, validate

__all__ = ["WORKFLOW_CONFIGFILE", "parse_config_args", "merge_config", "workflow_config"]

#: The config file the Snakefile names (``configfile:``), relative to the working directory.
WORKFLOW_CONFIGFILE = "config/config.yaml"

_KEY = re.compile(r"[a-zA-Z_][\w-]*\w$")


def _bool(text):
    if text == "True":
        return True
    if text == "False":
        return False
    raise ValueError(text)


def _yaml_text(text):
    return yaml.load(text, Loader=yaml.BaseLoader)


def parse_config_args(entries):
    """Read ``--config KEY=VALUE`` entries exactly as Snakemake does.

    As ``snakemake.cli.parse_config`` (Snakemake 9): the key must be an identifier of at
    least two characters; the value is the first of ``int``, ``float``, ``True``/``False``,
    YAML read as plain text (so ``{a: 1}`` is a mapping of text, ``true`` is text) and
    text that reads it; an empty value is null. Later entries win, mappings merged.

    Parameters
    ----------
    entries : list of str

    Returns
    -------
    dict

    Raises
    ------
    ConfigError
        For an entry without ``=`` or with a key that is not an identifier.
    """
    config = {}
    for entry in entries or []:
        key, sep, value = entry.partition("=")
        if not sep:
            raise ConfigError(f"--config {entry!r}: expected KEY=VALUE")
        if not _KEY.match(key):
            raise ConfigError(
                f"--config {entry!r}: the key must be an identifier (letters, digits, _ and -; "
                "at least two characters); nested values are given as YAML, e.g. "
                "'test_mode={max_events_per_file: 100}'"
            )
        parsed = None
        if value != "":
            for parser in (int, float, _bool, _yaml_text, str):
                try:
                    parsed = parser(value)
                except Exception:  # noqa: BLE001, S112 - the next parser is tried, as Snakemake does
                    continue
                if not callable(parsed):
                    break
        merge_config(config, {key: parsed})
    return config


def merge_config(config, override):
    """Merge ``override`` into ``config`` in place, mappings recursively (Snakemake's
    ``update_config``): a later layer changes the keys it names and keeps the others."""
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            merge_config(config[key], value)
        else:
            config[key] = copy.deepcopy(value)
    return config


def workflow_config(configfiles=(), config_args=(), overlays=()):
    """The workflow's config from its layers, typed, validated and cross-checked.

    Parameters
    ----------
    configfiles : sequence of str
        ``--configfile`` files, in order (relative to the working directory).
    config_args : sequence of str
        ``--config`` entries (:func:`parse_config_args`).
    overlays : sequence of (str, dict)
        Named mappings merged after the config files and before ``--config`` (the
        test-mode overlay ``showerflow run --test`` writes as its last config file).

    Paths are relative to the working directory, as for Snakemake (``--directory``: change
    into it first).

    Returns
    -------
    (dict, list of str)
        The config, and its layers in the order applied (for people).

    Raises
    ------
    FileNotFoundError
        For a config file that does not exist, or when there is no config at all.
    showerflow.config.ConfigError
        For a config that breaks the schema or the cross-checks, naming the key.
    """
    from .workflow import check_config

    config, sources = {}, []
    base = Path(WORKFLOW_CONFIGFILE)
    if base.is_file():
        merge_config(config, load_yaml(base))
        sources.append(WORKFLOW_CONFIGFILE)
    elif not configfiles:
        raise FileNotFoundError(
            f"no {WORKFLOW_CONFIGFILE} in {os.getcwd()} and no --configfile given"
        )
    for path in configfiles:
        full = Path(path)
        if not full.is_file():
            raise FileNotFoundError(f"--configfile {path}: no such file")
        data = load_yaml(full)
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
        merge_config(config, data)
        sources.append(str(path))
    for name, overlay in overlays:
        merge_config(config, overlay)
        sources.append(name)
    if config_args:
        merge_config(config, parse_config_args(config_args))
        sources.append("--config " + " ".join(config_args))
    schema = load_schema("config")
    coerce_strings(config, schema)
    source = sources[-1] if len(sources) == 1 else "config (" + " < ".join(sources) + ")"
    validate(config, schema, source=source)
    check_config(config)
    return config, sources
