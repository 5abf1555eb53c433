"""ctapipe DL1 HDF5 files, any supported data model version: the ``ctapipe_hdf5`` format.

The file's data model version (root attribute ``CTA PRODUCT DATA MODEL VERSION``) is read
first and picks the reader:

- ``v1.0.0`` (ctapipe 0.8, 2020): :mod:`showerflow.formats.ctapipe_v1`, PyTables;
- ``v4.0.0`` to ``v7.1.0`` (ctapipe 0.17 to 0.28): :mod:`showerflow.formats.ctapipe_current`,
  through ctapipe's own ``TableLoader`` (the ``ctapipe`` extra);

any other version stops with the file, the version found and the versions supported.
Both readers take the same ``format_options`` (:data:`DEFAULT_OPTIONS`); see
``docs/formats.md``.
"""

from __future__ import annotations

from ..contracts import ContractError
from .base import merge_options, open_hdf5
from .ctapipe_v1 import PRIMARY_IDS

__all__ = [
    "inspect",
    "read",
    "iterate",
    "DEFAULT_OPTIONS",
    "PRIMARY_IDS",
    "VERSION_ATTRIBUTE",
    "V1_VERSIONS",
    "TABLELOADER_VERSIONS",
    "SUPPORTED_VERSIONS",
    "data_model_version",
    "reader_for",
]

#: Root attribute holding the data model version.
VERSION_ATTRIBUTE = "CTA PRODUCT DATA MODEL VERSION"

#: Read with PyTables (:mod:`showerflow.formats.ctapipe_v1`).
V1_VERSIONS = ("v1.0.0",)

#: Read with ctapipe's TableLoader (:mod:`showerflow.formats.ctapipe_current`): the
#: versions ctapipe 0.28 reads (``ctapipe.io.hdf5eventsource.COMPATIBLE_DATA_MODEL_VERSIONS``).
TABLELOADER_VERSIONS = ("v4.0.0", "v5.0.0", "v5.1.0", "v6.0.0", "v7.0.0", "v7.1.0")

SUPPORTED_VERSIONS = V1_VERSIONS + TABLELOADER_VERSIONS

#: Options of the format and their defaults (the config schema describes them).
DEFAULT_OPTIONS = {
    # primary particle; None: from true_shower_primary_id
    "particle": None,
    # subarray layout column naming the telescope type; None: 'type' (LST, MST) for v1,
    # 'tel_description' (LST_LST_LSTCam, ...: ctapipe's telescope types) for v4+
    "tel_type_key": None,
    # images used by showerflow's stereo reconstruction (files without ctapipe geometry)
    "stereo_cuts": ["hillas_intensity >= 50", "leakage_intensity_width_2 <= 0.2"],
    # v4+: which focal length ctapipe's SubarrayDescription uses (ctapipe's default
    # EFFECTIVE when None); v1 files hold only the EQUIVALENT one
    "focal_length_choice": None,
    # v4+: ctapipe reconstructor whose DL2 geometry is used where the file has it;
    # None: always showerflow's stereo reconstruction
    "geometry": "HillasReconstructor",
}


def data_model_version(path):
    """The data model version of a ctapipe HDF5 file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    str
        E.g. ``"v7.1.0"``.

    Raises
    ------
    ContractError
        When the file is missing, not HDF5, or has no version attribute.
    """
    with open_hdf5(path) as h5:
        attrs = h5.root._v_attrs
        if VERSION_ATTRIBUTE not in attrs._f_list("user"):
            raise ContractError(
                path,
                f"root attribute '{VERSION_ATTRIBUTE}' missing: not a ctapipe HDF5 file "
                f"(expected one of data model versions {list(SUPPORTED_VERSIONS)})",
            )
        return str(attrs[VERSION_ATTRIBUTE])


def reader_for(path):
    """The reader module of a file's data model version (checked first).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    (module, str)
        The reader and the version.

    Raises
    ------
    ContractError
        For an unsupported version, naming the version found and those supported.
    """
    version = data_model_version(path)
    if version in V1_VERSIONS:
        from . import ctapipe_v1 as reader
    elif version in TABLELOADER_VERSIONS:
        from . import ctapipe_current as reader
    else:
        raise ContractError(
            path,
            f"root attribute '{VERSION_ATTRIBUTE}' is {version!r}: this data model version "
            f"is not supported; supported: {', '.join(SUPPORTED_VERSIONS)} (v1.0.0 with "
            "PyTables, v4.0.0 and later through ctapipe 0.28's TableLoader)",
        )
    return reader, version


def _options(path, options):
    return merge_options(path, "ctapipe_hdf5", DEFAULT_OPTIONS, options)


def read(path, options=None, entry_stop=None):
    """Read a ctapipe DL1 file into the DL1 contract (the reader of its version).

    Parameters
    ----------
    path : str or Path
    options : dict, optional
        :data:`DEFAULT_OPTIONS`.
    entry_stop : int, optional
        Keep the first this many triggered events.

    Returns
    -------
    DL1
    """
    opts = _options(path, options)
    reader, _ = reader_for(path)
    return reader.read(path, opts, entry_stop)


def inspect(path, options=None):
    """Check a ctapipe DL1 file and summarise it for the catalog.

    Returns
    -------
    dict
        ``uuid`` (the file's ``CTA PRODUCT ID``), ``n_events``, ``n_images``,
        ``data_model_version``, ``image_frame``, ``geometry`` (where the directions come
        from) and the simulation record (with the thrown-shower check's fields).
    """
    opts = _options(path, options)
    reader, version = reader_for(path)
    return {**reader.inspect(path, opts), "data_model_version": version}


def iterate(path, options=None, chunk_size=100_000, entry_stop=None):
    """The events of :func:`read` in chunks of at most ``chunk_size`` events.

    Yields
    ------
    DL1
    """
    opts = _options(path, options)
    reader, _ = reader_for(path)
    yield from reader.iterate(path, opts, chunk_size, entry_stop)
