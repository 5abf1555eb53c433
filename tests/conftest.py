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


def read_trees(path):
    """All trees of a DL1 file as {tree: {column: array}}."""
    with uproot.open(path) as f:
        return {name: f[name].arrays(library="np") for name in ("simulation", "events", "images")}
