"""What HTCondor must bring back from a job when no filesystem is shared, from the rules.

snakemake-executor-plugin-htcondor (0.3) transfers each job's declared inputs and its
declared outputs, except ``temp()`` ones, and not its log or benchmark. The batch rules'
staging folders are ``temp()`` outputs that the local ``publish`` jobs read, and every
job's log and benchmark are wanted back. So for every rule that runs on the pool, the
transfer profile (``profiles/htcondor-transfer``) needs ``htcondor_transfer_output_files``
listing them: this module derives that list from the rules themselves (Snakemake's own
parse of the Snakefile), so it is never kept by hand. ``showerflow run`` and
``showerflow profile show`` add it as a layer of its own for profiles with
``shared-fs-usage: none``.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["portable", "transfer_outputs", "rule_outputs", "needs_transfer_lists"]


def portable(pattern, results):
    """A rule's path pattern as the plugin formats it for one job.

    ``{name,regex}`` wildcards become ``{wildcards.name}``, and the results folder
    becomes ``{R}`` (the Snakefile's global), so the list is the same for any config.

    Parameters
    ----------
    pattern : str
    results : str
        The results folder the rules were parsed with.

    Returns
    -------
    str
    """
    from snakemake.io import strip_wildcard_constraints

    text = strip_wildcard_constraints(str(pattern))
    text = re.sub(r"\{(\w+)\}", r"{wildcards.\1}", text)
    prefix = str(results).rstrip("/") + "/"
    if text.startswith(prefix):
        text = "{R}/" + text[len(prefix) :]
    return text


def transfer_outputs(rules, results):
    """``{rule: {"htcondor_transfer_output_files": "..."}}`` for the rules on the pool.

    Parameters
    ----------
    rules : iterable of dict
        ``name``, ``local`` (bool), ``log`` (patterns), ``benchmark`` (pattern or None),
        ``temp_outputs`` (patterns), as :func:`rule_outputs` returns them.
    results : str

    Returns
    -------
    dict
    """
    out = {}
    for rule in rules:
        if rule["local"] or rule["name"] == "all":
            continue
        files = ["{log}"] if rule["log"] else []
        if rule["benchmark"]:
            files.append(portable(rule["benchmark"], results))
        files += [portable(p, results) for p in rule["temp_outputs"]]
        if files:
            out[rule["name"]] = {"htcondor_transfer_output_files": ",".join(files)}
    return out


def rule_outputs(snakefile, workdir=None, configfiles=()):
    """Each rule's log, benchmark and ``temp()`` outputs, from Snakemake's parse.

    Parameters
    ----------
    snakefile : str or Path
    workdir : str or Path, optional
        Where the Snakefile is read from (its ``configfile:`` is relative to it).
    configfiles : iterable of str

    Returns
    -------
    (list of dict, str)
        The rules (see :func:`transfer_outputs`) and the results folder they use.
    """
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        OutputSettings,
        ResourceSettings,
        StorageSettings,
    )

    snakefile = Path(snakefile).resolve()
    workdir = Path(workdir or snakefile.parent).resolve()
    with SnakemakeApi(OutputSettings(quiet=True)) as api:
        wf = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=[Path(c) for c in configfiles]),
            storage_settings=StorageSettings(),
            snakefile=snakefile,
            workdir=workdir,
        )
        workflow = wf._workflow  # the parsed rules: Snakemake has no public accessor
        results = workflow.globals.get("R", "results")
        rules = [
            {
                "name": r.name,
                "local": r.name in workflow._localrules or r.norun,
                "log": [str(x) for x in r.log],
                "benchmark": str(r.benchmark) if r.benchmark else None,
                "temp_outputs": [str(o) for o in r.output if o.flags.get("temp")],
            }
            for r in workflow.rules
        ]
    return rules, results


def needs_transfer_lists(profile):
    """Whether a merged profile submits to HTCondor without a shared filesystem."""
    return profile.get("executor") == "htcondor" and profile.get("shared-fs-usage") in (
        "none",
        ["none"],
    )
