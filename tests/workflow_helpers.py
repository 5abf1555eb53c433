"""Running the workflow in a temporary folder, for the end-to-end tests."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

SMALL = {
    "files_per_job": 3,
    "simulation": {
        "enabled": True,
        "output": "results/dl1",
        # with this seed every role of every dataset gets files (roles are drawn by hash)
        "seed": 1,
        "kinds": {
            "gamma": {"n_runs": 8, "n_showers": 300_000},
            "gamma_diffuse": {"n_runs": 2, "n_showers": 400_000},
            "proton": {"n_runs": 8, "n_showers": 600_000},
            "electron": {"n_runs": 2, "n_showers": 300_000},
        },
    },
}


def snakemake(workdir, *args, check=True):
    """Run snakemake on the repository's Snakefile in ``workdir``; return the result."""
    # targets first: --configfile takes several values and would swallow them
    cmd = SNAKEMAKE + [
        *args,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        "--configfile",
        str(workdir / "config.yaml"),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-5000:]}")
    return res


def make_config(workdir, **override):
    """Write the small production's config (model configs copied into ``workdir``)."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg.update(SMALL)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "models").mkdir(exist_ok=True)
    for name, path in cfg["models"].items():
        shutil.copy(REPO / path, workdir / "models" / Path(path).name)
        cfg["models"][name] = f"models/{Path(path).name}"  # relative: copies stay whole
    cfg["performance"]["config"] = str(REPO / cfg["performance"]["config"])
    cfg.update(override)
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    return cfg


def executed_jobs(result):
    """Names of the rules whose jobs a snakemake run executed, one entry per job."""
    text = result.stdout + result.stderr
    return [
        m.group(2)
        for m in re.finditer(r"^(local)?(?:rule|checkpoint) (\w+):$", text, re.M)
        if m.group(2) != "all"
    ]


def copy_run(src, dst):
    """Copy a finished workflow folder (results and Snakemake's metadata), keeping mtimes."""
    shutil.copytree(src, dst, symlinks=True)
    return dst
