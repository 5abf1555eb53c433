"""Shared fixtures: small toy productions written once per test session."""

from pathlib import Path

import numpy as np
import pytest
import uproot

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def small_production(tmp_path_factory):
    """A few small runs per kind: {kind: [paths]}."""
    from showerflow.simulate import simulate_production

    out = tmp_path_factory.mktemp("dl1")
    sizes = {
        "gamma": (3, 60_000),
        "gamma_diffuse": (2, 100_000),
        "proton": (3, 150_000),
        "electron": (1, 60_000),
    }
    return {
        kind: [
            str(p)
            for p in simulate_production(
                out / kind, kind, n, showers, seed=7, first_obs_id=100 * i + 1
            )
        ]
        for i, (kind, (n, showers)) in enumerate(sizes.items())
    }


def write_root(path, trees):
    """Write a ROOT file with the given {tree: {column: array}} as TTrees (like the toy)."""
    from showerflow.simulate import _tree_types

    with uproot.recreate(path) as f:
        for name, columns in trees.items():
            data = {
                k: np.asarray(v).astype(str) if np.asarray(v).dtype == object else np.asarray(v)
                for k, v in columns.items()
            }
            tree = f.mktree(name, _tree_types(data))
            if len(next(iter(data.values()))):
                tree.extend(data)
    return path


def renumber(trees, obs_id):
    """Give a run's trees (``read_trees``) another run number, in all three trees."""
    for name in ("simulation", "events", "images"):
        trees[name]["obs_id"] = np.full(len(trees[name]["obs_id"]), obs_id)
    return trees


def read_trees(path):
    """All trees of a DL1 file as {tree: {column: array}}."""
    with uproot.open(path) as f:
        return {name: f[name].arrays(library="np") for name in ("simulation", "events", "images")}


@pytest.fixture(scope="session")
def e2e_run(tmp_path_factory):
    """One run of the whole workflow on the small production: the workdir."""
    from workflow_helpers import make_config, snakemake

    workdir = tmp_path_factory.mktemp("e2e")
    make_config(workdir)
    snakemake(workdir)
    return workdir


# --- Shared by the cluster tests (test_slurm.py, test_htcondor.py): one local run of the
# small production of workflow_helpers.py, started in the background, to compare with.


class BackgroundRun:
    """A command running in the background; :meth:`wait` returns its CompletedProcess."""

    def __init__(self, cmd, cwd, env=None):
        import subprocess

        self.cmd, self.cwd = cmd, Path(cwd)
        self._out = open(self.cwd / "run.out", "w+")  # noqa: SIM115 - closed in wait()
        self._proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=self._out, stderr=subprocess.STDOUT, text=True
        )
        self._result = None

    def wait(self, timeout=1800):
        """Wait for the command; its output (stdout and stderr together) is ``.stdout``."""
        import subprocess

        if self._result is None:
            rc = self._proc.wait(timeout=timeout)
            self._out.seek(0)
            self._result = subprocess.CompletedProcess(self.cmd, rc, self._out.read(), "")
            self._out.close()
        return self._result


def cluster_workdir(workdir, **override):
    """A working directory holding the small production's config (workflow_helpers.make_config)."""
    from workflow_helpers import make_config

    make_config(Path(workdir), **override)
    return Path(workdir)


@pytest.fixture(scope="session")
def local_reference(tmp_path_factory):
    """The small production run with profiles/local, in the background.

    ``local_reference.wait()`` returns the finished run (check ``returncode``); the results
    are under ``local_reference.cwd / "results"``.
    """
    import sys

    workdir = cluster_workdir(tmp_path_factory.mktemp("local_reference"))
    cmd = [sys.executable, "-m", "showerflow.cli", "run", "local", "--", "--snakefile"]
    cmd += [str(REPO / "Snakefile"), "--configfile", str(workdir / "config.yaml")]
    run = BackgroundRun(cmd, workdir)
    yield run
    run.wait()


def assert_same_results(results, reference, datasets=("gamma", "proton", "electron")):
    """Merged DL2 tables and IRF FITS data of two runs are the same.

    Same events in the same order with identical identifiers and simulated values; model
    outputs and every IRF column equal to 1e-9 relative (multi-threaded tree predictions sum
    in varying order, which moves the last bits). The simulation records that travel with
    each DL2 file are identical.
    """
    import json

    import pyarrow.parquet as pq
    from astropy.io import fits

    for ds in datasets:
        a = pq.read_table(Path(results) / "dl2" / f"{ds}.parquet")
        b = pq.read_table(Path(reference) / "dl2" / f"{ds}.parquet")
        assert a.column_names == b.column_names, ds
        assert a.num_rows == b.num_rows > 0, ds
        for col in a.column_names:
            x, y = a[col].to_numpy(), b[col].to_numpy()
            if col in ("reco_energy", "gammaness"):
                np.testing.assert_allclose(x, y, rtol=1e-9, atol=0, err_msg=f"{ds}.{col}")
            else:
                np.testing.assert_array_equal(x, y, err_msg=f"{ds}.{col}")
        sim = [json.loads(t.schema.metadata[b"showerflow"])["simulation"] for t in (a, b)]
        assert sim[0] == sim[1], ds
    n_columns = 0
    for name in ("full_enclosure.fits.gz", "point_like.fits.gz", "cuts.fits"):
        with (
            fits.open(Path(results) / "irf" / name) as ha,
            fits.open(Path(reference) / "irf" / name) as hb,
        ):
            assert [h.name for h in ha] == [h.name for h in hb], name
            n_columns += _same_hdus(ha, hb)
    assert n_columns > 20


def _same_hdus(ha, hb):
    """Every column of two HDU lists equal to 1e-9 relative; the number of columns."""
    n_columns = 0
    for x, y in zip(ha, hb, strict=True):
        if x.data is None:
            continue
        assert x.columns.names == y.columns.names, x.name
        for col in x.columns.names:
            np.testing.assert_allclose(
                np.asarray(x.data[col], float),
                np.asarray(y.data[col], float),
                rtol=1e-9,
                atol=0,
                equal_nan=True,
                err_msg=f"{x.name}.{col}",
            )
            n_columns += 1
    return n_columns
