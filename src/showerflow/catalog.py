"""Catalog of DL1 files: datasets as metadata queries, roles, batches.

A dataset is a query over the metadata of the files found in a list of folders, e.g.
``particle == "proton" and zenith == 20``. Files are assigned to roles (energy training,
classification training, performance) by a hash of their identity (the ROOT UUID by
default), so adding files never moves files already assigned. A dataset with
``role_split: event`` (small samples with one file per particle) instead gives every file
every role and splits its *events* by a hash of ``(obs_id, event_id)``
(:func:`event_roles`). Files are read through their dataset's format
(:mod:`showerflow.formats`).
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from .contracts import BOOKKEEPING_KEYS, IMAGE_FRAME, ContractError
from .formats import format_of

__all__ = [
    "ROLES",
    "scan_folders",
    "adler32",
    "catalog_entry",
    "build_catalog",
    "select",
    "bookkeeping_problems",
    "frame_problems",
    "check_bookkeeping",
    "identity_fraction",
    "assign_roles",
    "event_fraction",
    "event_roles",
    "role_fraction_edges",
    "make_batches",
]

#: Roles a file can play, in the order their fractions are stacked on [0, 1).
ROLES = ("energy", "classification", "performance")


def scan_folders(folders, pattern="*.root"):
    """List the files matching ``pattern`` in ``folders`` (not recursive), sorted.

    Parameters
    ----------
    folders : list of str or Path
    pattern : str

    Returns
    -------
    list of str
    """
    paths = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"input folder '{folder}' does not exist")
        paths.extend(str(p) for p in folder.glob(pattern) if p.is_file())
    return sorted(paths)


def adler32(path, chunk=1 << 20):
    """Adler-32 checksum of a file as 8 hex digits (the checksum DIRAC records)."""
    value = 1
    with open(path, "rb") as f:
        while block := f.read(chunk):
            value = zlib.adler32(block, value)
    return f"{value & 0xFFFFFFFF:08x}"


def catalog_entry(path, spec=None):
    """One catalog row: identity, bookkeeping, counts, size and checksum of a file.

    Parameters
    ----------
    path : str or Path
    spec : dict, optional
        The file's dataset (its ``format`` and ``format_options``); default ROOT.

    Returns
    -------
    dict
    """
    fmt, options = format_of(spec)
    info = fmt.inspect(path, options)
    info["path"] = str(path)
    info["name"] = Path(path).name
    info["size"] = Path(path).stat().st_size
    info["checksum"] = adler32(path)
    return info


def build_catalog(paths, skip_bad_files=False, spec=None):
    """Inspect files and return the catalog table and the list of bad files.

    Parameters
    ----------
    paths : list of str
    skip_bad_files : bool
        If False, the first bad file raises its ContractError.
    spec : dict, optional
        The dataset (format and its options); default ROOT.

    Returns
    -------
    (pandas.DataFrame, list of dict)
        The catalog (one row per good file) and ``[{"file": ..., "reason": ...}]``.
    """
    rows, bad = [], []
    for path in paths:
        try:
            rows.append(catalog_entry(path, spec))
        except ContractError as err:
            if not skip_bad_files:
                raise
            bad.append({"file": str(path), "reason": err.problem})
    return pd.DataFrame(rows), bad


def select(catalog, query):
    """Apply a dataset's metadata query (pandas ``DataFrame.query`` syntax).

    Parameters
    ----------
    catalog : pandas.DataFrame
    query : str or None

    Returns
    -------
    pandas.DataFrame
    """
    if not query or catalog.empty:
        return catalog.reset_index(drop=True)
    try:
        return catalog.query(query).reset_index(drop=True)
    except Exception as err:
        raise ValueError(
            f"dataset query {query!r} failed: {err}; columns available: {sorted(catalog.columns)}"
        ) from err


def frame_problems(catalog, dataset=""):
    """Files whose image parameters are in another frame than the rest of their dataset.

    ctapipe writes Hillas parameters in the telescope frame (``hillas_fov_lon/lat``, psi
    from the fov_lon axis) or, with ``--camera-frame``, in the camera frame (``hillas_x/y``,
    psi from the camera's x axis, other timing slopes): features of one frame mean
    something else in the other, so a model trained on a mix learns nonsense. The
    reference frame is the one most files have; files of formats that record no frame
    (no ``image_frame`` column, or an empty value) are not compared.

    Parameters
    ----------
    catalog : pandas.DataFrame
        Rows of one dataset (``path`` and, if the format records it, ``image_frame``).
    dataset : str
        Name used in the messages.

    Returns
    -------
    list of dict
        ``{"file": path, "reason": ...}``, one per file not in the reference frame.
    """
    if catalog.empty or IMAGE_FRAME not in catalog.columns:
        return []
    frames = catalog[IMAGE_FRAME].where(catalog[IMAGE_FRAME].astype(bool), None)
    known = frames.dropna()
    if known.nunique() < 2:
        return []
    ref = known.mode().iloc[0]
    first = catalog.loc[frames == ref, "path"].iloc[0]
    return [
        {
            "file": row["path"],
            "reason": (
                f"image parameters are in the {row[IMAGE_FRAME]} frame, but {first} (and "
                f"{int((frames == ref).sum()) - 1} more) of dataset '{dataset}' are in the "
                f"{ref} frame; expected one frame for the whole dataset (ctapipe-process "
                "with or without --camera-frame for every file)"
            ),
        }
        for _, row in catalog[frames.notna() & (frames != ref)].iterrows()
    ]


def bookkeeping_problems(catalog, dataset="", keys=BOOKKEEPING_KEYS, rtol=1e-6):
    """Files whose simulation bookkeeping disagrees with the rest of their dataset.

    The reference value of each key is the one most files share, so one odd file is
    named as odd whichever its position. Repeated run numbers (``obs_id``) are reported
    too: a run counted twice would double its showers in the effective area. Files
    whose image parameters are in another frame than the rest (:func:`frame_problems`)
    are reported as well.

    Parameters
    ----------
    catalog : pandas.DataFrame
        Rows of one dataset (``path``, ``obs_id`` and the bookkeeping keys).
    dataset : str
        Name used in the messages.
    keys : iterable of str
    rtol : float
        Relative tolerance for numbers.

    Returns
    -------
    list of dict
        ``{"file": path, "reason": ...}``, at most one per file, in catalog order.
    """
    problems = {}
    if catalog.empty:
        return []
    for p in frame_problems(catalog, dataset):
        problems.setdefault(p["file"], p["reason"])
    for key in keys:
        values = catalog[key]
        if values.isna().all():
            continue  # the format does not record it (performance refuses such data)
        ref = values.mode().iloc[0]
        if values.dtype.kind in "fi":
            ok = np.isclose(values.to_numpy(float), float(ref), rtol=rtol, atol=0)
        else:
            ok = (values == ref).to_numpy()
        for i in np.flatnonzero(~ok):
            row = catalog.iloc[i]
            problems.setdefault(
                row["path"],
                f"simulation.{key} = {row[key]!r} disagrees with {ref!r} of the other runs "
                f"of dataset '{dataset}' (every run must share {', '.join(keys)})",
            )
    dup = (catalog["obs_id"].duplicated(keep="first") & catalog["obs_id"].notna()).to_numpy()
    for i in np.flatnonzero(dup):
        row = catalog.iloc[i]
        first = catalog.loc[catalog["obs_id"] == row["obs_id"], "path"].iloc[0]
        problems.setdefault(
            row["path"], f"run obs_id={row['obs_id']} is also {first} (a run must appear once)"
        )
    return [{"file": p, "reason": r} for p, r in problems.items()]


def check_bookkeeping(catalog, dataset="", keys=BOOKKEEPING_KEYS, rtol=1e-6):
    """Raise for the first file of :func:`bookkeeping_problems`, naming it and the key.

    Raises
    ------
    ContractError
    """
    problems = bookkeeping_problems(catalog, dataset, keys, rtol)
    if problems:
        raise ContractError(problems[0]["file"], problems[0]["reason"])


def identity_fraction(identity):
    """Map a file identity (UUID or name) to a number in [0, 1), uniformly.

    Parameters
    ----------
    identity : str

    Returns
    -------
    float
    """
    digest = hashlib.sha256(identity.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_roles(identities, fractions):
    """Assign each file a role from the hash of its identity.

    Parameters
    ----------
    identities : iterable of str
    fractions : dict
        Role -> fraction; they must sum to 1. Roles are stacked on [0, 1) in the
        order of :data:`ROLES`.

    Returns
    -------
    list of str
    """
    total = sum(fractions.get(r, 0.0) for r in ROLES)
    if not np.isclose(total, 1.0):
        raise ValueError(f"role fractions {fractions} must sum to 1, not {total}")
    edges = np.cumsum([fractions.get(r, 0.0) for r in ROLES])
    out = []
    for ident in identities:
        x = identity_fraction(ident)
        out.append(ROLES[min(int(np.searchsorted(edges, x, side="right")), 2)])
    return out


def role_fraction_edges(fractions):
    """Upper edges of the roles' intervals on [0, 1), stacked in the order of :data:`ROLES`."""
    total = sum(fractions.get(r, 0.0) for r in ROLES)
    if not np.isclose(total, 1.0):
        raise ValueError(f"role fractions {fractions} must sum to 1, not {total}")
    return np.cumsum([fractions.get(r, 0.0) for r in ROLES])


def event_fraction(obs_id, event_id):
    """Map each event ``(obs_id, event_id)`` to a number in [0, 1), uniformly.

    A splitmix64 hash with its own constant, independent of the models' train/test
    split (:func:`showerflow.models.shower_test_mask`), so an event's role and whether
    it is a test event are unrelated.

    Parameters
    ----------
    obs_id, event_id : array-like of int

    Returns
    -------
    numpy.ndarray of float
    """
    with np.errstate(over="ignore"):
        x = np.asarray(obs_id, np.uint64) * np.uint64(0xD1B54A32D192ED03)
        x ^= np.asarray(event_id, np.uint64) + np.uint64(0x8CB92BA72F3D8DD7)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / 2.0**53


def event_roles(obs_id, event_id, fractions):
    """Role of each event from the hash of ``(obs_id, event_id)`` (``role_split: event``).

    Parameters
    ----------
    obs_id, event_id : array-like of int
    fractions : dict
        Role -> fraction, summing to 1 (stacked in the order of :data:`ROLES`).

    Returns
    -------
    numpy.ndarray of str
    """
    edges = role_fraction_edges(fractions)
    idx = np.searchsorted(edges, event_fraction(obs_id, event_id), side="right")
    return np.asarray(ROLES)[np.minimum(idx, len(ROLES) - 1)]


def make_batches(paths, files_per_job):
    """Split a sorted list of files into batches of at most ``files_per_job``.

    Parameters
    ----------
    paths : list of str
    files_per_job : int

    Returns
    -------
    list of list of str
    """
    if files_per_job < 1:
        raise ValueError("files_per_job must be >= 1")
    return [paths[i : i + files_per_job] for i in range(0, len(paths), files_per_job)]
