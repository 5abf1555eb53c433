"""Event preparation: DL2 files -> weighted pyirf event lists with their bookkeeping.

Each particle's DL2 (one or more files) is read with the simulation records travelling
with it, checked (records agree between runs, every event has its run's record), cut
(quality cuts), converted to a :class:`astropy.table.QTable` with units and pyirf's
column names, and weighted (:mod:`showerflow.performance.spectra`). ``theta`` is the
distance of the reconstructed from the *true* source direction, as ctapipe's
``EventLoader`` computes it: for on-axis gammas the pointing, for diffuse gammas each
event's own direction.
"""

from __future__ import annotations

import logging
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.table import QTable
from pyirf.simulations import SimulatedEventsInfo
from pyirf.utils import calculate_source_fov_offset, calculate_theta

from ..contracts import (
    BOOKKEEPING_KEYS,
    BOOKKEEPING_PROBLEM,
    DL2_COLUMNS,
    SIMULATION_COLUMNS,
    ContractError,
)
from ..tables import read_table
from .binning import check_view_cone, is_diffuse, offset_bin_index, offset_label
from .spectra import event_weights, is_diffuse_flux, point_source_weights, resolve_spectrum

__all__ = [
    "simulation_info",
    "to_event_table",
    "apply_quality_cuts",
    "prepare_events",
    "read_dl2",
    "check_offset_coverage",
    "load_particle",
]

log = logging.getLogger(__name__)

#: DL2 columns the performance stage reads.
_DL2_NEEDED = tuple(DL2_COLUMNS)

#: DL2 column -> unit of the event table.
_UNITS = {
    "true_energy": u.TeV,
    "reco_energy": u.TeV,
    "true_alt": u.deg,
    "true_az": u.deg,
    "reco_alt": u.deg,
    "reco_az": u.deg,
    "pointing_alt": u.deg,
    "pointing_az": u.deg,
}


def _group_obs_ids(records, key):
    """Distinct values of ``key`` -> obs_ids having it (floats compared with tolerance)."""
    groups = []
    for record in records:
        value = record[key]
        for group in groups:
            same = (
                np.isclose(float(group[0]), float(value), rtol=1e-6, atol=0)
                if isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
                else group[0] == value
            )
            if same:
                group[1].append(record["obs_id"])
                break
        else:
            groups.append((value, [record["obs_id"]]))
    return groups


def _list_ids(ids, limit=8):
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f", … ({len(ids)} runs)" if len(ids) > limit else "")


def simulation_info(records, path=""):
    """Combine the per-run simulation records of one particle into a SimulatedEventsInfo.

    The number of showers is the sum of ``n_showers * shower_reuse`` over the runs; the
    bookkeeping keys (particle, energy range, spectral index, scatter range, view cone)
    must agree between runs.

    Parameters
    ----------
    records : list of dict
        Simulation records with the keys of ``contracts.SIMULATION_COLUMNS``.
    path : str, optional
        File the records came from, for error messages.

    Returns
    -------
    pyirf.simulations.SimulatedEventsInfo

    Raises
    ------
    showerflow.contracts.ContractError
        If there are no records, a key is missing, a record carries a
        ``bookkeeping_problem`` (its header disagrees with its thrown-shower histogram, or
        the file is an excerpt), an obs_id is repeated, or the runs disagree on a
        bookkeeping key (the message names the key, the values and the obs_ids holding
        each value).
    """
    _check_records(records, path)
    first = records[0]
    n_showers = int(sum(int(r["n_showers"]) * int(r["shower_reuse"]) for r in records))
    try:
        return SimulatedEventsInfo(
            n_showers=n_showers,
            energy_min=float(first["energy_min"]) * u.TeV,
            energy_max=float(first["energy_max"]) * u.TeV,
            max_impact=float(first["max_scatter_range"]) * u.m,
            spectral_index=float(first["spectral_index"]),
            viewcone_min=float(first["viewcone_min"]) * u.deg,
            viewcone_max=float(first["viewcone_max"]) * u.deg,
        )
    except ValueError as err:
        raise ContractError(path, f"invalid simulation bookkeeping: {err}") from err


def _check_records(records, path):
    """The checks of :func:`simulation_info` (raises ContractError)."""
    if not records:
        raise ContractError(
            path,
            "no simulation records (metadata 'simulation' is empty): the number of "
            "simulated showers is unknown, so weights and effective areas cannot be computed",
        )
    for record in records:
        missing = [k for k in SIMULATION_COLUMNS if k not in record]
        if missing:
            raise ContractError(
                path,
                f"simulation record of obs_id {record.get('obs_id', '?')} lacks "
                f"{missing}; expected keys {list(SIMULATION_COLUMNS)}",
            )
    for record in records:
        problem = record.get(BOOKKEEPING_PROBLEM)
        if isinstance(problem, str) and problem:
            raise ContractError(
                path,
                f"simulation record of obs_id {record.get('obs_id', '?')}: "
                f"{problem}. The number of thrown showers behind its "
                "events is not known, so weights, effective areas and IRFs cannot be "
                "computed from it (leave the file out of the performance datasets)",
            )
    for record in records:
        lacking = [
            k
            for k in SIMULATION_COLUMNS
            if k != "particle" and (record[k] is None or not np.isfinite(float(record[k])))
        ]
        if lacking:
            raise ContractError(
                path,
                f"simulation record of particle {record.get('particle', '?')!r} has no value for "
                f"{lacking}: its input format does not record the simulation bookkeeping "
                "(e.g. a per-event table), so weights, effective areas and IRFs cannot be "
                "computed from it",
            )
    obs_ids = [r["obs_id"] for r in records]
    repeated = sorted({i for i in obs_ids if obs_ids.count(i) > 1})
    if repeated:
        raise ContractError(
            path,
            f"simulation records repeat obs_id {_list_ids(repeated)}: a run counted twice "
            "would double its showers",
        )
    for key in BOOKKEEPING_KEYS:
        groups = _group_obs_ids(records, key)
        if len(groups) > 1:
            detail = "; ".join(f"{v!r} in obs_id {_list_ids(ids)}" for v, ids in groups)
            raise ContractError(
                path,
                f"simulation records disagree on '{key}': {detail}. Runs simulated with "
                f"different {key} cannot be combined into one dataset",
            )
    for key in ("zenith", "azimuth"):
        if len(_group_obs_ids(records, key)) > 1:
            log.warning("%s: runs have different pointing %s; IRFs will average them", path, key)


def to_event_table(df, path=""):
    """Convert a DL2 DataFrame into a pyirf event list (QTable with units).

    Parameters
    ----------
    df : pandas.DataFrame
        DL2 rows with the columns of ``contracts.DL2_COLUMNS``.
    path : str, optional
        File the rows came from, for error messages.

    Returns
    -------
    astropy.table.QTable
        ``obs_id``, ``event_id``, ``true_energy``, ``reco_energy`` [TeV], ``gh_score``
        (the gammaness), ``true_alt``, ``true_az``, ``reco_alt``, ``reco_az``,
        ``pointing_alt``, ``pointing_az`` [deg], ``multiplicity``.
    """
    missing = [c for c in _DL2_NEEDED if c not in df.columns]
    if missing:
        raise ContractError(
            path or "<DL2 table>",
            f"DL2 column(s) {missing} missing; the table has {sorted(df.columns)}",
        )
    table = QTable()
    table["obs_id"] = df["obs_id"].to_numpy(np.int64)
    table["event_id"] = df["event_id"].to_numpy(np.int64)
    for col in ("true_energy", "reco_energy"):
        table[col] = df[col].to_numpy(float) * _UNITS[col]
    table["gh_score"] = df["gammaness"].to_numpy(float)
    for col in ("true_alt", "true_az", "reco_alt", "reco_az", "pointing_alt", "pointing_az"):
        table[col] = df[col].to_numpy(float) * _UNITS[col]
    table["multiplicity"] = df["multiplicity"].to_numpy(np.int64)
    return table


def apply_quality_cuts(df, quality_cfg):
    """Apply the event quality cuts of the config to a DL2 DataFrame.

    Parameters
    ----------
    df : pandas.DataFrame
        DL2 rows.
    quality_cfg : dict
        ``{"multiplicity_min": int, "drop_non_finite": bool}``.

    Returns
    -------
    pandas.DataFrame
        The rows passing the cuts.
    """
    mask = np.ones(len(df), dtype=bool)
    mask &= df["multiplicity"].to_numpy() >= quality_cfg.get("multiplicity_min", 1)
    if quality_cfg.get("drop_non_finite", True):
        for col in ("reco_energy", "gammaness", "reco_alt", "reco_az"):
            mask &= np.isfinite(df[col].to_numpy(float))
        mask &= df["reco_energy"].to_numpy(float) > 0
    log.info("quality cuts keep %d of %d events", int(mask.sum()), len(df))
    return df[mask].reset_index(drop=True)


def prepare_events(df, records, spectrum, obs_time, path="", fov_offset_bins=None):
    """Turn DL2 rows of one particle into a weighted pyirf event list.

    Parameters
    ----------
    df : pandas.DataFrame
        DL2 rows (quality cuts already applied).
    records : list of dict
        Simulation records of the runs the rows came from.
    spectrum : str or callable
        Target spectrum, a name of :data:`~showerflow.performance.spectra.SPECTRA` or a
        pyirf spectrum.
    obs_time : astropy.units.Quantity or float
        Observation time (a float is taken in hours).
    path : str, optional
        File the rows came from, for error messages.
    fov_offset_bins : astropy.units.Quantity, optional
        For a diffuse simulation and a point-source spectrum (diffuse gammas): the
        FoV-offset bins in each of which the events are weighted as a point source
        (:func:`~showerflow.performance.spectra.point_source_weights`).

    Returns
    -------
    astropy.table.QTable
        The columns of :func:`to_event_table` plus ``weight``, ``particle_type``,
        ``theta`` (distance of the reconstructed from the true direction),
        ``true_source_fov_offset`` and ``reco_source_fov_offset`` [deg].
    """
    info = simulation_info(records, path)
    particle = str(records[0]["particle"])
    events = to_event_table(df, path)
    obs_time = u.Quantity(obs_time, u.h)
    target = resolve_spectrum(spectrum)
    for prefix in ("true", "reco"):
        events[f"{prefix}_source_fov_offset"] = calculate_source_fov_offset(events, prefix=prefix)
    if is_diffuse(info) and not is_diffuse_flux(target) and fov_offset_bins is not None:
        events["weight"] = point_source_weights(
            events["true_energy"],
            events["true_source_fov_offset"],
            info,
            target,
            obs_time,
            fov_offset_bins,
            particle,
        )
    else:
        events["weight"] = event_weights(events["true_energy"], info, target, obs_time, particle)
    events["particle_type"] = np.full(len(events), particle)
    events["theta"] = calculate_theta(
        events, assumed_source_az=events["true_az"], assumed_source_alt=events["true_alt"]
    )
    events.meta.update(
        particle=particle,
        spectrum=spectrum if isinstance(spectrum, str) else repr(spectrum),
        n_showers=int(info.n_showers),
    )
    log.info("%s: %d events, simulation %s", particle, len(events), info)
    return events


def _as_list(paths):
    if isinstance(paths, (str, Path)):
        return [paths]
    return list(paths)


def read_dl2(paths, particle=None):
    """Read one or more DL2 files of one particle with their simulation records.

    Parameters
    ----------
    paths : str, Path or list of them
    particle : str, optional
        Expected particle; the records must say the same.

    Returns
    -------
    (pandas.DataFrame, list of dict, str)
        Rows, simulation records, and a label naming the file(s) for messages.
    """
    paths = _as_list(paths)
    if not paths:
        raise ValueError(f"no DL2 files given for {particle or 'a particle'}")
    frames, records = [], []
    for path in paths:
        df, meta = read_table(path, required=_DL2_NEEDED)
        recs = meta.get("simulation")
        if not isinstance(recs, list) or not recs:
            raise ContractError(
                path,
                "metadata has no 'simulation' records (a list of per-run records with "
                f"keys {list(SIMULATION_COLUMNS)}); DL2 without them cannot give IRFs",
            )
        particles = sorted({str(r.get("particle")) for r in recs})
        if particle is not None and particles != [particle]:
            raise ContractError(
                path, f"simulation records are for particle(s) {particles}, expected '{particle}'"
            )
        known = {r.get("obs_id") for r in recs}
        orphans = sorted(set(df["obs_id"].unique().tolist()) - known)
        if orphans:
            raise ContractError(
                path,
                f"events of obs_id {_list_ids(orphans)} have no simulation record "
                f"(records cover obs_id {_list_ids(sorted(known))})",
            )
        frames.append(df)
        records.extend(recs)
    label = str(paths[0]) if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} files)"
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return df, records, label


def check_offset_coverage(events, edges, path):
    """Stop if a FoV-offset bin holds no event of a diffuse gamma sample.

    Parameters
    ----------
    events : astropy.table.QTable
        Prepared events (``true_source_fov_offset``).
    edges : astropy.units.Quantity
        The IRFs' FoV-offset bins.
    path : str
        The DL2 file(s), for the message.

    Raises
    ------
    showerflow.contracts.ContractError
        Naming the empty bins and the events per bin.
    """
    index = offset_bin_index(events["true_source_fov_offset"], edges)
    counts = np.bincount(index[index >= 0], minlength=len(edges) - 1)
    labels = [offset_label(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    empty = [label for label, n in zip(labels, counts, strict=True) if n == 0]
    if empty:
        detail = ", ".join(f"{label}: {n}" for label, n in zip(labels, counts, strict=True))
        raise ContractError(
            path,
            f"FoV-offset bin(s) {', '.join(empty)} hold no gamma event after the quality cuts "
            f"(events per bin: {detail}); expected events in every bin of binning.fov_offset: "
            "narrow the binning or simulate more showers",
        )


def _check_kind(info, kind, sample, label):
    if kind == "on_axis" and is_diffuse(info):
        raise ContractError(
            label,
            f"the '{sample}' sample is diffuse (view cone {info.viewcone_min:g}–"
            f"{info.viewcone_max:g}); expected on-axis gammas: give diffuse gammas as "
            "'gamma_diffuse'",
        )
    if kind == "diffuse" and not is_diffuse(info):
        raise ContractError(
            label,
            f"the '{sample}' sample has a view cone of 0 (on-axis gammas); expected gammas "
            "thrown over a cone (viewcone_max > viewcone_min)",
        )


def load_particle(paths, particle, cfg, fov_offset_bins=None, kind=None, sample=None):
    """Read, cut, check and weight the DL2 of one particle.

    Parameters
    ----------
    paths : str, Path or list of them
    particle : str
        ``gamma``, ``proton`` or ``electron`` (the records must say the same).
    cfg : dict
        Validated performance config.
    fov_offset_bins : astropy.units.Quantity, optional
        For diffuse gammas: the IRFs' offset bins (checked against the view cone and for
        empty bins, and used for point-source weights per bin).
    kind : {"on_axis", "diffuse"}, optional
        The simulation the sample must be.
    sample : str, optional
        The sample's name, for messages (default ``particle``).

    Returns
    -------
    (astropy.table.QTable, pyirf.simulations.SimulatedEventsInfo, str)
        Events, bookkeeping and a label naming the file(s); ``meta`` of the events
        holds the mean pointing ``zenith`` and ``azimuth`` [deg].
    """
    df, records, label = read_dl2(paths, particle)
    df = apply_quality_cuts(df, cfg["quality_cuts"])
    info = simulation_info(records, label)
    _check_kind(info, kind, sample or particle, label)
    if fov_offset_bins is not None and is_diffuse(info):
        check_view_cone(info, fov_offset_bins, label)
    else:
        fov_offset_bins = None
    events = prepare_events(
        df, records, cfg["spectra"][particle], cfg["observation_time"], label, fov_offset_bins
    )
    if fov_offset_bins is not None:
        check_offset_coverage(events, fov_offset_bins, label)
    events.meta["zenith"] = float(np.mean([float(r["zenith"]) for r in records]))
    events.meta["azimuth"] = float(np.mean([float(r["azimuth"]) for r in records]))
    return events, info, label
