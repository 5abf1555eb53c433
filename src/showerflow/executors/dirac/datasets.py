"""Datasets selected by a DIRAC File Catalog metadata query (the CERN@school pattern).

A dataset may name its files by a metadata query instead of folders::

    datasets:
      proton:
        catalog: dirac
        dirac_query: particle=proton zenith=20
        dirac_path: /vo/user/c/ciuser/dl1     # where to search (default /)
        roles: {...}

:func:`parse_query` turns the query into the dict DIRAC's ``findFilesByMetadata`` takes,
:func:`find_dataset` returns the matching LFNs with their catalog size, Adler-32 and
metadata (refusing a query that names a field the catalog has not indexed), and
:func:`fetch_dataset` makes a verified local copy of each (kept between runs, fetched again
only when the catalog's size or checksum changes), which the formats read as any other
DL1 file. :func:`catalog_columns` gives the columns the catalog table adds for such files
(``lfn``, ``catalog_checksum``, and every ``dirac_<field>``). :func:`dl1_metadata` and
:data:`DL1_FIELDS` are what showerflow sets when it uploads DL1 files itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
from pathlib import Path

from .checks import check_indexed
from .client import DiracError
from .jdl import CACHE_DIR, check_lfn

__all__ = [
    "DL1_FIELDS",
    "QueryError",
    "parse_query",
    "query_fields",
    "find_dataset",
    "local_path",
    "fetch_dataset",
    "catalog_columns",
    "dl1_metadata",
    "upload_dl1",
    "query_digest",
    "dataset_files",
]

#: File Catalog fields (and index types) of DL1 files: their simulation record.
DL1_FIELDS = {
    "particle": "VARCHAR(32)",
    "obs_id": "INT",
    "zenith": "FLOAT",
    "azimuth": "FLOAT",
    "energy_min": "FLOAT",
    "energy_max": "FLOAT",
    "spectral_index": "FLOAT",
    "viewcone_max": "FLOAT",
    "n_showers": "INT",
    "uuid": "VARCHAR(64)",
}

_TERM = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\s*(<=|>=|!=|=|<|>)\s*(.+)$")


class QueryError(ValueError):
    """A File Catalog query that cannot be read (the message names the term)."""


def _number(text):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def parse_query(text):
    """A query ``"particle=proton zenith>=20 obs_id=1,2"`` as DIRAC's metadata dict.

    Terms are separated by whitespace and all must hold. ``f=v`` is equality, ``f=a,b``
    one of several values, ``f<v``, ``f<=v``, ``f>v``, ``f>=v``, ``f!=v`` comparisons
    (two on one field combine, e.g. ``zenith>=10 zenith<30``). Numbers become numbers.

    Parameters
    ----------
    text : str

    Returns
    -------
    dict
        ``{"particle": "proton", "zenith": {">=": 20}, "obs_id": [1, 2]}``.

    Raises
    ------
    QueryError
    """
    query = {}
    terms = str(text or "").split()
    if not terms:
        raise QueryError("empty File Catalog query: give terms such as 'particle=proton zenith=20'")
    for term in terms:
        match = _TERM.match(term)
        if not match:
            raise QueryError(
                f"query term {term!r} is not 'field=value' (or <, <=, >, >=, != a value)"
            )
        name, op, raw = match.groups()
        if op == "=":
            values = [_number(v) for v in raw.split(",") if v]
            value = values[0] if len(values) == 1 else values
            if name in query:
                raise QueryError(f"field {name!r} is given twice with '='")
            query[name] = value
        else:
            prev = query.setdefault(name, {})
            if not isinstance(prev, dict):
                raise QueryError(f"field {name!r} has both '=' and {op!r}")
            prev[op] = _number(raw)
    return query


def query_fields(query):
    """The field names a parsed query uses, sorted."""
    return sorted(query)


def find_dataset(client, query_text, path="/"):
    """The files a File Catalog query selects, with their catalog entries and metadata.

    Parameters
    ----------
    client : DiracClient
    query_text : str
        See :func:`parse_query`.
    path : str
        Catalog directory searched (recursively).

    Returns
    -------
    list of dict
        One per LFN, sorted: ``lfn``, ``size``, ``checksum`` (Adler-32), ``metadata``.

    Raises
    ------
    QueryError
        An unreadable query, or one naming a field the catalog has not indexed (which
        DIRAC would answer with an error or nothing).
    DiracError
        The catalog's own failures.
    """
    query = parse_query(query_text)
    fields = client.meta_fields()
    try:
        check_indexed({f: "VARCHAR(64)" for f in query_fields(query)}, fields, "query")
    except DiracError as err:
        raise QueryError(f"File Catalog query {query_text!r}: {err}") from None
    lfns = client.find(query, path)
    if not lfns:
        return []
    entries, failed = client.lfn_metadata(lfns)
    if failed:
        lfn, msg = next(iter(failed.items()))
        raise DiracError(f"the File Catalog found {lfn} but has no entry for it: {msg}")
    meta = client.user_metadata(lfns)
    return [
        {
            "lfn": lfn,
            "size": int(entries[lfn].get("Size") or 0),
            "checksum": str(entries[lfn].get("Checksum") or ""),
            "metadata": meta.get(lfn, {}),
        }
        for lfn in sorted(lfns)
    ]


def local_path(lfn, cache):
    """Where the local copy of ``lfn`` lives: ``<cache>/<lfn without its leading />``.

    ``cache`` must be named :data:`~showerflow.executors.dirac.jdl.CACHE_DIR`
    (``dirac-cache``): the DIRAC executor then maps the copy back to ``lfn`` itself (no
    upload of a file the catalog has; the real LFN as ancestor of what is made from it).
    """
    check_lfn(lfn)
    if Path(cache).name != CACHE_DIR:
        raise ValueError(
            f"the cache of catalog files must be a folder named {CACHE_DIR}, not {cache}"
        )
    return Path(cache) / posixpath.normpath(lfn).lstrip("/")


def fetch_dataset(client, files, cache, adler32):
    """Verified local copies of a dataset's files; a copy already there is kept when its
    size and Adler-32 equal the catalog's.

    Parameters
    ----------
    client : DiracClient
    files : list of dict
        From :func:`find_dataset`.
    cache : str or Path
        Folder of the local copies (e.g. ``results/dirac-cache``).
    adler32 : callable
        ``adler32(path) -> hex`` (``showerflow.catalog.adler32``).

    Returns
    -------
    list of str
        Local paths, in the order of ``files``.

    Raises
    ------
    DiracError
        A file that cannot be fetched with its catalog checksum (``kind`` says why).
    """
    out = []
    for entry in files:
        dest = local_path(entry["lfn"], cache)
        if (
            dest.is_file()
            and dest.stat().st_size == entry["size"]
            and _same(adler32(dest), entry["checksum"])
        ):
            out.append(str(dest))
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.fetch"
        if tmp.exists():
            shutil.rmtree(tmp)
        try:
            got = client.get_file(entry["lfn"], tmp)
            value = adler32(got)
            if not _same(value, entry["checksum"]):
                raise DiracError(
                    f"{entry['lfn']}: downloaded Adler-32 {value}, catalog {entry['checksum']}",
                    kind="corrupt",
                )
            os.replace(got, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        out.append(str(dest))
    return out


def _same(a, b):
    try:
        return int(str(a), 16) == int(str(b), 16)
    except ValueError:
        return False


def catalog_columns(files, paths):
    """Columns the catalog table gets for files found by a query, keyed by local path.

    Returns
    -------
    dict
        ``{local path: {"lfn": ..., "catalog_checksum": ..., "dirac_<field>": ...}}``.
    """
    out = {}
    for entry, path in zip(files, paths, strict=True):
        row = {"lfn": entry["lfn"], "catalog_checksum": entry["checksum"]}
        row.update({f"dirac_{k}": v for k, v in sorted(entry["metadata"].items())})
        out[str(path)] = row
    return out


def dl1_metadata(entry):
    """File Catalog metadata of a DL1 file from its catalog entry (simulation record).

    Parameters
    ----------
    entry : dict
        ``showerflow.catalog.catalog_entry`` of the file.

    Returns
    -------
    dict
        The :data:`DL1_FIELDS` the entry has (NaN and None left out; floats rounded to 6
        significant digits, the precision of the float32 values files often hold).
    """
    out = {}
    for name, kind in DL1_FIELDS.items():
        value = entry.get(name)
        if value is None or (isinstance(value, float) and value != value):
            continue
        if hasattr(value, "item"):
            value = value.item()
        if kind == "INT":
            value = int(value)
        elif kind == "FLOAT":
            # 6 significant digits: float32 bookkeeping (20.0000076) matches a query's 20
            value = float(f"{float(value):.6g}")
        else:
            value = str(value)
        out[name] = value
    return out


def upload_dl1(client, paths, lfn_dir, se, entries, overwrite=False):
    """Upload DL1 files below ``lfn_dir`` with their simulation record as metadata.

    Parameters
    ----------
    client : DiracClient
    paths : list of str
    lfn_dir : str
    se : str
    entries : list of dict
        ``showerflow.catalog.catalog_entry`` of each path.
    overwrite : bool

    Returns
    -------
    list of str
        The LFNs.
    """
    if len(paths) != len(entries):
        raise ValueError(f"{len(paths)} paths but {len(entries)} catalog entries")
    lfns = []
    for path in paths:
        lfn = posixpath.join(lfn_dir, Path(path).name)
        check_lfn(lfn)
        client.add_file(lfn, path, se, overwrite=overwrite)
        lfns.append(lfn)
    client.set_metadata(
        [(lfn, dl1_metadata(entry), []) for lfn, entry in zip(lfns, entries, strict=True)]
    )
    return lfns


def query_digest(files):
    """SHA-256 of what a query selected (LFN, size, checksum of each): it changes when the
    catalog's answer does, as ``workflow.folder_digest`` does for a folder listing."""
    rows = sorted((f["lfn"], int(f["size"]), str(f["checksum"]).lower().lstrip("0")) for f in files)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def dataset_files(spec, cache, adler32, client=None):
    """The local files of a ``catalog: dirac`` dataset, and the columns they add.

    What the catalog stage calls instead of scanning folders: the query's LFNs
    (:func:`find_dataset`), verified local copies (:func:`fetch_dataset`) and, per local
    path, the catalog columns (:func:`catalog_columns`).

    Parameters
    ----------
    spec : dict
        The dataset: ``dirac_query``, optional ``dirac_path`` (default ``/``).
    cache : str or Path
        Folder of the local copies.
    adler32 : callable
    client : DiracClient, optional

    Returns
    -------
    tuple of (list of str, dict, str)
        Local paths, ``{path: columns}``, and the :func:`query_digest`.

    Raises
    ------
    QueryError
        No query, a query naming an unindexed field, or one that selects nothing.
    """
    from .client import DiracClient

    query = spec.get("dirac_query")
    if not query:
        raise QueryError(
            "a dataset with catalog: dirac needs dirac_query (e.g. 'particle=proton zenith=20')"
        )
    path = spec.get("dirac_path") or "/"
    client = client or DiracClient()
    files = find_dataset(client, query, path)
    if not files:
        raise QueryError(f"File Catalog query {query!r} below {path} selects no file")
    paths = fetch_dataset(client, files, cache, adler32)
    return paths, catalog_columns(files, paths), query_digest(files)
