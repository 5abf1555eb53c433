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

import errno
import fnmatch
import hashlib
import os
import stat
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from .contracts import (
    BOOKKEEPING_KEYS,
    BOOKKEEPING_PROBLEM,
    IMAGE_FRAME,
    SIMULATION_COLUMNS,
    ContractError,
)
from .formats import format_of

__all__ = [
    "ROLES",
    "QUERY_COLUMNS",
    "list_folder",
    "scan_folders",
    "folder_problems",
    "check_query",
    "adler32",
    "catalog_entry",
    "build_catalog",
    "select",
    "bookkeeping_problems",
    "duplicate_problems",
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


def list_folder(folder, pattern="*.root"):
    """The entries of one folder matching ``pattern`` (not recursive): files and problems.

    An entry that matches the pattern but is no readable file is a bad input, never
    silently left out: a dangling symbolic link (its target is gone), a loop of links,
    a directory, or anything else ``stat`` refuses. Listing never follows a link
    further than ``stat`` does and never raises for an entry.

    Parameters
    ----------
    folder : str or Path
        An existing folder.
    pattern : str
        ``fnmatch`` pattern of the file names.

    Returns
    -------
    (list of str, list of dict)
        The regular files (links to regular files included), sorted; and
        ``{"file": path, "reason": ...}`` of every other matching entry, sorted by path.
    """
    files, problems = [], []
    with os.scandir(folder) as it:
        entries = [e for e in it if fnmatch.fnmatch(e.name, pattern)]
    for e in entries:
        path = os.path.join(folder, e.name)
        try:
            st = os.stat(path)
        except OSError as err:
            if e.is_symlink():
                target = os.readlink(path)
                if err.errno == errno.ELOOP:
                    reason = f"symbolic link to '{target}' is a loop of links ({err.strerror})"
                else:
                    reason = f"dangling symbolic link: its target '{target}' does not exist"
            else:
                reason = f"cannot be read ({err.strerror})"
            problems.append({"file": path, "reason": reason + "; expected a DL1 file"})
            continue
        if stat.S_ISREG(st.st_mode):
            files.append(path)
        else:
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            problems.append(
                {
                    "file": path,
                    "reason": f"is {kind} matching pattern {pattern!r}; expected a DL1 file",
                }
            )
    return sorted(files), sorted(problems, key=lambda p: p["file"])


def scan_folders(folders, pattern="*.root", problems=None):
    """List the files matching ``pattern`` in ``folders`` (not recursive), sorted.

    Parameters
    ----------
    folders : list of str or Path
    pattern : str
    problems : list, optional
        If given, the matching entries that are no readable file (:func:`list_folder`)
        are appended to it.

    Returns
    -------
    list of str

    Raises
    ------
    FileNotFoundError
        For a folder that does not exist.
    """
    paths = []
    for folder in folders:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"input folder '{folder}' does not exist")
        files, bad = list_folder(folder, pattern)
        paths.extend(files)
        if problems is not None:
            problems.extend(bad)
    return sorted(paths)


def folder_problems(folders, pattern="*.root"):
    """The entries of existing ``folders`` matching ``pattern`` that are no readable file.

    Folders that do not exist are left out (a missing folder is a config error,
    :func:`showerflow.workflow.check_config`).

    Returns
    -------
    list of dict
        ``{"file", "reason"}``, sorted by path.
    """
    out = []
    for folder in folders:
        if os.path.isdir(folder):
            out.extend(list_folder(folder, pattern)[1])
    return sorted(out, key=lambda p: p["file"])


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
        If False, the first bad file raises its ContractError (an ``OSError`` reading a
        file is one too).
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
            try:
                rows.append(catalog_entry(path, spec))
            except OSError as err:  # a file that vanished or cannot be read
                raise ContractError(path, f"cannot be read ({err})") from err
        except ContractError as err:
            if not skip_bad_files:
                raise
            bad.append({"file": str(path), "reason": err.problem})
    return pd.DataFrame(rows), bad


#: Columns a dataset's query may name, with their kinds (``U`` text, ``i`` integer, ``f``
#: float): the simulation record, the file's identity and counts, and what the ctapipe
#: formats add (a format's catalog has a subset of the last group).
QUERY_COLUMNS = {
    **{k: v[0] for k, v in SIMULATION_COLUMNS.items()},
    "uuid": "U",
    "name": "U",
    "path": "U",
    "n_events": "i",
    "n_images": "i",
    "size": "i",
    "checksum": "U",
    IMAGE_FRAME: "U",
    "geometry": "U",
    "n_runs": "i",
    "data_model_version": "U",
    "n_showers_histogram": "f",
    "bookkeeping_source": "U",
    BOOKKEEPING_PROBLEM: "U",
}


def check_query(query, source="query"):
    """Check a dataset's query without any file: its syntax and the names it uses.

    The query is evaluated (pandas ``DataFrame.query``) on an empty catalog with every
    column of :data:`QUERY_COLUMNS`, which reads nothing.

    Parameters
    ----------
    query : str or None
    source : str
        Where it came from (a config key), named in the message.

    Raises
    ------
    ValueError
        Naming ``source``, the query, pandas' complaint and the columns allowed.
    """
    if not query:
        return
    dtypes = {"U": object, "i": np.int64, "f": np.float64}
    empty = pd.DataFrame({c: pd.Series(dtype=dtypes[k]) for c, k in QUERY_COLUMNS.items()})
    try:
        empty.query(query)
    except Exception as err:
        raise ValueError(
            f"{source}: query {query!r} is not a valid pandas query over the catalog "
            f"({type(err).__name__}: {err}); allowed: a boolean expression of the columns "
            f"{', '.join(sorted(QUERY_COLUMNS))}, e.g. 'particle == \"gamma\" and zenith == 20'"
        ) from None


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


def bookkeeping_problems(catalog, dataset="", keys=BOOKKEEPING_KEYS, rtol=1e-6, identity=None):
    """Files whose simulation bookkeeping disagrees with the rest of their dataset.

    The reference value of each key is the one most files share, so one odd file is
    named as odd whichever its position. Files whose image parameters are in another
    frame than the rest (:func:`frame_problems`) are reported as well. Then, among the
    files with no such problem, repeated run numbers (``obs_id``; a run counted twice
    would double its showers in the effective area) and, with ``identity``, repeated
    identities (two files with one UUID would share their outputs): of the files sharing
    one, the first path in sort order is kept and each other one is reported, naming the
    kept file (:func:`duplicate_problems`); which one is kept never depends on the order
    the files were listed in.

    Parameters
    ----------
    catalog : pandas.DataFrame
        Rows of one dataset (``path``, ``obs_id`` and the bookkeeping keys).
    dataset : str
        Name used in the messages.
    keys : iterable of str
    rtol : float
        Relative tolerance for numbers.
    identity : {"uuid", "name"}, optional
        The dataset's identity column, which must be unique too.

    Returns
    -------
    list of dict
        ``{"file": path, "reason": ...}``, at most one per file, sorted by path.
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
        ref = ref.item() if hasattr(ref, "item") else ref
        for i in np.flatnonzero(~ok):
            row = catalog.iloc[i]
            value = row[key].item() if hasattr(row[key], "item") else row[key]
            problems.setdefault(
                row["path"],
                f"simulation.{key} = {value!r} disagrees with {ref!r} of the other runs "
                f"of dataset '{dataset}' (every run must share {', '.join(keys)})",
            )
    clean = catalog[~catalog["path"].isin(list(problems))]
    columns = [("obs_id", "run")]
    if identity is not None and identity in catalog.columns:
        columns.append((identity, "file identity"))
    for column, what in columns:
        for p in duplicate_problems(clean, column, what):
            problems.setdefault(p["file"], p["reason"])
        clean = clean[~clean["path"].isin(list(problems))]
    return [{"file": p, "reason": problems[p]} for p in sorted(problems)]


def duplicate_problems(catalog, column, what="run"):
    """Files sharing a value of ``column`` with another: all but the first path are named.

    Parameters
    ----------
    catalog : pandas.DataFrame
        ``path``, ``checksum`` and ``column``.
    column : str
        ``obs_id``, ``uuid`` or ``name``.
    what : str
        What the column identifies, for the message.

    Returns
    -------
    list of dict
        ``{"file", "reason"}`` of every file but the first path (in sort order) of each
        group sharing a value; the reason names the kept file and says whether the file
        is a byte-identical copy of it.
    """
    rows = catalog[catalog[column].notna()].sort_values("path")
    out = []
    for value, group in rows.groupby(column, sort=True):
        if len(group) < 2:
            continue
        kept = group.iloc[0]
        for _, row in group.iloc[1:].iterrows():
            same = "checksum" in row and row["checksum"] == kept["checksum"]
            how = "a byte-identical copy of" if same else "other content than"
            out.append(
                {
                    "file": row["path"],
                    "reason": (
                        f"{what} {column}={value} is also {kept['path']} ({how} it), which is "
                        f"kept: of the files sharing a {what}, the catalog keeps the first "
                        f"path in sort order; a {what} must appear once"
                    ),
                }
            )
    return sorted(out, key=lambda p: p["file"])


def check_bookkeeping(catalog, dataset="", keys=BOOKKEEPING_KEYS, rtol=1e-6, identity=None):
    """Raise for the first file of :func:`bookkeeping_problems`, naming it and the key.

    Raises
    ------
    ContractError
    """
    problems = bookkeeping_problems(catalog, dataset, keys, rtol, identity)
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
