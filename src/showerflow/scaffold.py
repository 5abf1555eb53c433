"""``showerflow init DIR``: a new analysis folder that runs the installed workflow.

protopipe's ``create_analysis_tree.py`` and snakedeploy's habit: the analysis (its configs,
its results) lives in its own folder, and the workflow's code stays where it is installed.
The folder gets commented copies of the configs, a profile per chosen site whose
``snakefile`` key points at the workflow (so ``showerflow run <site>`` and ``snakemake
--profile profiles/<site>`` run from the folder, results landing there), a README of next
steps and a ``.gitignore``. Nothing is written outside the folder, and a folder that is
not empty is refused.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = [
    "CONFIG_FILES",
    "workflow_checkout",
    "site_profiles",
    "init_analysis",
    "readme_text",
    "relative_listing",
]

#: What is copied from the workflow's ``config/`` (every file commented key by key).
CONFIG_FILES = (
    "config.yaml",
    "performance.yaml",
    "models/energy.yaml",
    "models/classifier.yaml",
    "ctapipe/process.yaml",
)


def workflow_checkout(path=None):
    """The folder of the workflow (``Snakefile``, ``rules/``, ``scripts/``, ``config/``).

    Parameters
    ----------
    path : str or Path, optional
        Default: the showerflow source tree this package runs from (``pip install -e``).

    Returns
    -------
    Path
        Absolute.

    Raises
    ------
    FileNotFoundError
        When there is no Snakefile: a package installed without its workflow.
    """
    root = Path(path) if path else Path(__file__).resolve().parents[2]
    root = root.resolve()
    missing = [p for p in ("Snakefile", "rules", "scripts", "config") if not (root / p).exists()]
    if missing:
        raise FileNotFoundError(
            f"no showerflow workflow in {root} (missing {', '.join(missing)}): install "
            "showerflow from its source tree (pip install -e <checkout>) or give --workflow"
        )
    return root


def site_profiles(checkout):
    """The site profiles the workflow ships: ``{name: folder}``."""
    folder = Path(checkout) / "profiles"
    return {p.name: p for p in sorted(folder.iterdir()) if (p / "config.yaml").is_file()}


def _profile_text(source, snakefile):
    """A site profile with the ``snakefile`` pointer put first."""
    text = (source / "config.yaml").read_text()
    head = (
        "# showerflow init: this analysis folder runs the workflow installed at the\n"
        "# snakefile below (results land here); the rest is the site profile\n"
        f"# {source}, to edit for this analysis.\n"
        f"snakefile: {snakefile}  # the workflow's Snakefile (showerflow init --workflow)\n\n"
    )
    return head + text


def readme_text(name, checkout, sites):
    """The README of a new analysis folder: what is there, the next steps."""
    first = sites[0]
    return f"""# {name}: a showerflow analysis

Made by `showerflow init`. This folder holds the analysis (its configuration, its
results); the workflow it runs is installed at `{checkout}` (the `snakefile` key of each
profile points there), so updating showerflow there updates the code every analysis runs.

## What is here

- `config/config.yaml`: datasets (DL1 folders, metadata query, role fractions), models,
  performance samples. Out of the box it simulates the embedded toy sample; for your own
  DL1 files set `simulation.enabled: false` and point each dataset's `folders` at them.
- `config/models/energy.yaml`, `config/models/classifier.yaml`: the estimators, features,
  quality cuts.
- `config/performance.yaml`: pyirf settings (binning, spectra, cuts, observation time).
- `config/ctapipe/process.yaml`: ctapipe-process settings (datasets read from simtel files).
- `profiles/{first}/config.yaml`{", " if len(sites) > 1 else ""}{", ".join(f"`profiles/{s}/`" for s in sites[1:])}: how and where jobs run.

Every key is commented; the schemas with each key's meaning and default are in
`{checkout}/config/schemas/`.

## Next steps

```bash
cd {name}
showerflow status                          # checks the config; what is done (nothing yet)
showerflow run {first} --test                 # a quick first run: a few files, a few events
showerflow status --test                   # what that run made
showerflow run {first}                        # the whole production
showerflow run {first} --observation-time 5h  # IRFs and sensitivity for 5 h
snakemake --profile profiles/{first} -n       # the same workflow with plain snakemake
```

Results: `results/` (catalogs, models, DL2, IRFs, plots, logs).
"""


GITIGNORE = """# showerflow outputs and Snakemake's bookkeeping
results/
.snakemake/
"""


def init_analysis(folder, sites=("local",), checkout=None):
    """Create a new analysis folder.

    Parameters
    ----------
    folder : str or Path
        A folder that does not exist or is empty.
    sites : sequence of str
        Site profiles of the workflow to copy (``profiles/<name>``), the first is the one
        the README's commands use.
    checkout : str or Path, optional
        The workflow (:func:`workflow_checkout`).

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    FileExistsError
        When ``folder`` exists and is not empty, or is a file.
    ValueError
        For an unknown site.
    """
    checkout = workflow_checkout(checkout)
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(
            f"{folder}: exists and is not an empty folder; showerflow init writes only into "
            "a new or empty folder"
        )
    known = site_profiles(checkout)
    unknown = [s for s in sites if s not in known]
    if unknown or not sites:
        raise ValueError(
            f"--site {', '.join(unknown) or '(none)'}: not a profile of the workflow; "
            f"allowed: {', '.join(known)}"
        )
    plan = {}
    for rel in CONFIG_FILES:
        plan[Path("config") / rel] = (checkout / "config" / rel).read_text()
    snakefile = checkout / "Snakefile"
    for site in dict.fromkeys(sites):
        source = known[site]
        plan[Path("profiles") / site / "config.yaml"] = _profile_text(source, snakefile)
        for extra in sorted(source.iterdir()):
            if extra.is_file() and extra.name != "config.yaml":
                plan[Path("profiles") / site / extra.name] = extra
    plan[Path("README.md")] = readme_text(folder.name, checkout, list(dict.fromkeys(sites)))
    plan[Path(".gitignore")] = GITIGNORE
    written = []
    folder.mkdir(parents=True, exist_ok=True)
    for rel, content in plan.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy2(content, target)  # e.g. a job wrapper, executable
        else:
            target.write_text(content)
        written.append(target)
    return written


def relative_listing(folder, written):
    """The written files relative to ``folder``, for printing."""
    return [os.path.relpath(p, folder) for p in written]
