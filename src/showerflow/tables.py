"""Parquet tables with metadata, written atomically.

Every table showerflow writes (training tables, DL2) is Parquet. Key-value metadata
under the key ``showerflow`` carries a JSON document; for DL2 it holds the simulation
records of the runs the events came from (``{"simulation": [ {...}, ... ]}``), so a
merged DL2 file alone is enough for IRFs.

Every column that a data contract (:mod:`showerflow.contracts`) describes carries its unit
and meaning in the Parquet schema's field metadata (keys ``unit``, empty for dimensionless
columns, and ``description``), so pyarrow users see them without the docs.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .contracts import ContractError

__all__ = [
    "atomic_path",
    "write_table",
    "write_chunks",
    "read_table",
    "read_metadata",
    "column_docs",
    "with_field_docs",
    "METADATA_KEY",
]

METADATA_KEY = b"showerflow"


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    A job killed while writing leaves only a ``.tmp`` file, never a file under the final
    name that looks finished. An ``OSError`` while writing (a full disk, a file size
    limit, a folder that cannot be made) is raised again naming the file being written,
    which the writers' own messages often do not (``No space left on device``).

    Parameters
    ----------
    path : str or Path
        Final destination.

    Yields
    ------
    Path
        Where to write.

    Raises
    ------
    OSError
        The same ``errno`` (and class), its message ``writing <path>: <reason>``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        raise _naming(err, path) from err
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                tmp.unlink()


def _naming(err, path):
    """``err`` as an OSError of the same errno (so the same class) naming ``path``."""
    message = f"writing {path}: {err.strerror or err}"
    return OSError(message) if err.errno is None else OSError(err.errno, message)


def _jsonable(obj):
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj)}")


def column_docs():
    """Unit and meaning of every column a data contract describes.

    Returns
    -------
    dict
        ``{column: (unit, description)}``; a name in several contracts takes the
        meaning of the last of simulation, images, events, DL2.
    """
    from .contracts import DL2_COLUMNS, EVENT_COLUMNS, IMAGE_COLUMNS, SIMULATION_COLUMNS

    docs = {}
    for columns in (SIMULATION_COLUMNS, IMAGE_COLUMNS, EVENT_COLUMNS, DL2_COLUMNS):
        docs.update({name: (unit, meaning) for name, (_, unit, meaning) in columns.items()})
    return docs


def with_field_docs(schema, docs=None):
    """Return ``schema`` with ``unit`` and ``description`` field metadata on known columns.

    Parameters
    ----------
    schema : pyarrow.Schema
    docs : dict, optional
        ``{column: (unit, description)}`` (default: :func:`column_docs`).

    Returns
    -------
    pyarrow.Schema
    """
    docs = column_docs() if docs is None else docs
    fields = []
    for field in schema:
        if field.name in docs:
            unit, description = docs[field.name]
            meta = dict(field.metadata or {})
            meta.update({b"unit": unit.encode(), b"description": description.encode()})
            field = field.with_metadata(meta)
        fields.append(field)
    return pa.schema(fields, metadata=schema.metadata)


def write_table(df, path, metadata=None, row_group_size=None):
    """Write a DataFrame to Parquet atomically, with showerflow metadata.

    Columns described by a data contract get their unit and meaning as field metadata
    (:func:`with_field_docs`).

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    path : str or Path
        Destination.
    metadata : dict, optional
        JSON-serialisable document stored under the ``showerflow`` key.
    row_group_size : int, optional
        Rows per Parquet row group (lets readers stream).
    """
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(metadata or {}, default=_jsonable).encode()
    table = table.cast(with_field_docs(table.schema.with_metadata(meta)))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=row_group_size)


def write_chunks(frames, path, metadata=None):
    """Write DataFrames one by one to a Parquet file, atomically: one row group each.

    Only one chunk is in memory at a time. The file appears under its final name only
    when every chunk is written. Field metadata as in :func:`write_table`.

    Parameters
    ----------
    frames : iterable of pandas.DataFrame
        Chunks with the same columns and dtypes; at least one (it may be empty).
    path : str or Path
        Destination.
    metadata : dict, optional
        JSON-serialisable document stored under the ``showerflow`` key.

    Returns
    -------
    int
        Rows written.
    """
    meta = {METADATA_KEY: json.dumps(metadata or {}, default=_jsonable).encode()}
    n = 0
    with atomic_path(path) as tmp:
        writer = None
        try:
            for df in frames:
                table = pa.Table.from_pandas(df, preserve_index=False)
                if writer is None:
                    schema = table.schema.with_metadata({**(table.schema.metadata or {}), **meta})
                    schema = with_field_docs(schema)
                    writer = pq.ParquetWriter(tmp, schema)
                if len(df):
                    writer.write_table(table.cast(writer.schema))
                n += len(df)
            if writer is None:
                raise ValueError(f"{path}: no chunk to write")
        finally:
            if writer is not None:
                writer.close()
    return n


def read_metadata(path):
    """Return the showerflow metadata document of a Parquet file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
    """
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise ContractError(path, f"not a readable Parquet file ({err})") from err
    raw = (schema.metadata or {}).get(METADATA_KEY)
    return json.loads(raw) if raw else {}


def read_table(path, columns=None, required=None):
    """Read a Parquet table and its showerflow metadata, checking required columns.

    Parameters
    ----------
    path : str or Path
    columns : list of str, optional
        Columns to read (default: all).
    required : iterable of str, optional
        Columns that must be present; a missing one raises ContractError.

    Returns
    -------
    (pandas.DataFrame, dict)
    """
    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise ContractError(path, f"not a readable Parquet file ({err})") from err
    names = set(pf.schema_arrow.names)
    for col in list(required or []) + list(columns or []):
        if col not in names:
            raise ContractError(path, f"column '{col}' missing; the file has {sorted(names)}")
    df = pf.read(columns=columns).to_pandas()
    return df, read_metadata(path)


def concat_tables(frames):
    """Concatenate DataFrames, keeping dtypes of empty frames sensible."""
    frames = [f for f in frames if len(f)] or frames[:1]
    return pd.concat(frames, ignore_index=True)
