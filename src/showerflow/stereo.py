"""Simple stereo reconstruction from per-telescope Hillas parameters.

For DL1 files that carry image parameters but no stereo reconstruction (the ctapipe DL1
HDF5 sample): shower direction, core, height of the shower maximum and per-telescope
impact distance, from the Hillas ellipses of all telescopes of an event, in the way of
ctapipe's ``HillasReconstructor`` (plane intersection).

Conventions (ctapipe 0.8):

- Camera frame: Hillas ``x``, ``y`` in metres in the focal plane. With the small-angle
  (equidistant) mapping, the offset from the pointing direction is
  ``delta_alt = x / f`` and ``delta_az = y / f`` (radians), ``f`` the equivalent focal
  length. ``psi`` is the angle of the major axis from the camera x axis towards y.
- Ground frame: x to the north, y to the west, z up (metres), the frame of the telescope
  positions and of the simulated core.
- Alt/az: azimuth from north towards east.

Every function works on flat arrays, one row per image, with an event index
(0..n_events-1) per image, so events are reconstructed together, without Python loops.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "altaz_to_vector",
    "vector_to_altaz",
    "camera_to_vector",
    "vector_to_camera",
    "reconstruct",
]


def altaz_to_vector(alt, az):
    """Unit vectors of directions in the ground frame (x north, y west, z up).

    Parameters
    ----------
    alt, az : array-like (rad)

    Returns
    -------
    numpy.ndarray, shape (n, 3)
    """
    alt, az = np.broadcast_arrays(np.asarray(alt, float), np.asarray(az, float))
    return np.stack(
        [np.cos(alt) * np.cos(az), -np.cos(alt) * np.sin(az), np.sin(alt)], axis=-1
    ).reshape(-1, 3)


def vector_to_altaz(v):
    """Altitude and azimuth (rad, azimuth in [0, 2 pi)) of ground-frame vectors."""
    v = np.asarray(v, float)
    norm = np.linalg.norm(v, axis=-1)
    alt = np.arcsin(np.clip(v[..., 2] / norm, -1, 1))
    az = np.mod(np.arctan2(-v[..., 1], v[..., 0]), 2 * np.pi)
    return alt, az


def camera_to_vector(x, y, focal_length, pointing_alt, pointing_az):
    """Sky directions of camera-frame points, as ground-frame unit vectors.

    Parameters
    ----------
    x, y : array-like (m)
        Camera-frame positions.
    focal_length : array-like (m)
    pointing_alt, pointing_az : array-like (rad)
        Pointing of each telescope.

    Returns
    -------
    numpy.ndarray, shape (n, 3)
    """
    lat = np.asarray(x, float) / np.asarray(focal_length, float)  # delta_alt
    lon = np.asarray(y, float) / np.asarray(focal_length, float)  # delta_az
    # unit vector in the frame whose x axis is the pointing (y: +az, z: +alt) ...
    ux = np.cos(lat) * np.cos(lon)
    uy = np.cos(lat) * np.sin(lon)
    uz = np.sin(lat)
    # ... rotated by -alt about y, then by az about z (alt/az frame, y towards east) ...
    alt, az = np.asarray(pointing_alt, float), np.asarray(pointing_az, float)
    x1 = ux * np.cos(alt) - uz * np.sin(alt)
    z1 = ux * np.sin(alt) + uz * np.cos(alt)
    east = x1 * np.sin(az) + uy * np.cos(az)
    north = x1 * np.cos(az) - uy * np.sin(az)
    # ... and with y turned to the west (ground frame)
    x1, y1, z1 = np.broadcast_arrays(north, -east, z1)
    return np.stack([x1, y1, z1], axis=-1).reshape(-1, 3)


def vector_to_camera(v, focal_length, pointing_alt, pointing_az):
    """Camera-frame position (m) of ground-frame directions: the inverse of
    :func:`camera_to_vector`.

    Parameters
    ----------
    v : numpy.ndarray, shape (n, 3)
    focal_length : array-like (m)
    pointing_alt, pointing_az : array-like (rad)

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``x``, ``y`` in metres.
    """
    v = np.asarray(v, float).reshape(-1, 3)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    north, east, up = v[:, 0], -v[:, 1], v[:, 2]
    alt, az = np.asarray(pointing_alt, float), np.asarray(pointing_az, float)
    x1 = north * np.cos(az) + east * np.sin(az)
    uy = -north * np.sin(az) + east * np.cos(az)
    ux = x1 * np.cos(alt) + up * np.sin(alt)
    uz = -x1 * np.sin(alt) + up * np.cos(alt)
    f = np.asarray(focal_length, float)
    return f * np.arcsin(np.clip(uz, -1, 1)), f * np.arctan2(uy, ux)


def _sum_per_event(event_index, values, n_events):
    """Sum rows of ``values`` (shape (n, ...)) per event."""
    flat = values.reshape(len(values), -1)
    out = np.stack(
        [
            np.bincount(event_index, weights=flat[:, k], minlength=n_events)
            for k in range(flat.shape[1])
        ],
        axis=-1,
    )
    return out.reshape((n_events,) + values.shape[1:])


def reconstruct(
    event_index,
    n_events,
    tel_pos,
    hillas_x,
    hillas_y,
    hillas_psi,
    hillas_intensity,
    hillas_width,
    hillas_length,
    focal_length,
    pointing_alt,
    pointing_az,
):
    """Stereo reconstruction of direction, core, shower maximum and impact distances.

    Each image defines a plane through its telescope that holds the shower axis: the
    plane spanned by the sky directions of the image centroid and of a second point on
    the image's major axis. The shower direction is the unit vector closest to lying in
    every plane (the eigenvector of the smallest eigenvalue of ``sum w n n^T``, ``n`` the
    planes' normals): intersections of planes at small angles count little, as in
    ctapipe's weighting by the sine of the angle between planes. Weights are
    ``w = intensity * (1 - width / length)``: bright, elongated images count most.
    The core is the point of the ground plane (z = 0) closest, in the weighted
    least-squares sense, to all planes. The shower maximum is the point closest to the
    lines of sight from each telescope through its image centroid (intensity-weighted);
    its height is ``h_max`` above the ground frame's z = 0. The impact distance of a
    telescope is its distance from the reconstructed shower axis (for every image of a
    reconstructed event, used or not).

    Parameters
    ----------
    event_index : numpy.ndarray of int
        Event (0..n_events-1) of each image.
    n_events : int
    tel_pos : numpy.ndarray, shape (n, 3) (m)
        Ground-frame position of each image's telescope.
    hillas_x, hillas_y : numpy.ndarray (m)
        Image centroid in the camera frame.
    hillas_psi : numpy.ndarray (rad)
        Orientation of the major axis.
    hillas_intensity : numpy.ndarray (p.e.)
    hillas_width, hillas_length : numpy.ndarray (m)
    focal_length : numpy.ndarray (m)
    pointing_alt, pointing_az : numpy.ndarray (rad)

    Returns
    -------
    dict
        Per event: ``alt``, ``az`` (rad), ``core_x``, ``core_y``, ``h_max`` (m),
        ``multiplicity`` (images used); per image: ``impact_distance`` (m). Events with
        fewer than two usable images get NaN.
    """
    event_index = np.asarray(event_index, np.int64)
    tel_pos = np.asarray(tel_pos, float).reshape(-1, 3)
    length = np.asarray(hillas_length, float)
    width = np.asarray(hillas_width, float)
    intensity = np.asarray(hillas_intensity, float)
    psi = np.asarray(hillas_psi, float)
    x, y = np.asarray(hillas_x, float), np.asarray(hillas_y, float)

    with np.errstate(invalid="ignore", divide="ignore"):
        weight = intensity * (1 - width / length)
    step = 0.1 * np.asarray(focal_length, float)  # any point on the axis will do
    cog = camera_to_vector(x, y, focal_length, pointing_alt, pointing_az)
    other = camera_to_vector(
        x + step * np.cos(psi), y + step * np.sin(psi), focal_length, pointing_alt, pointing_az
    )
    normal = np.cross(cog, other)
    with np.errstate(invalid="ignore", divide="ignore"):
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    usable = np.isfinite(normal).all(axis=1) & np.isfinite(weight) & (weight > 0)
    usable &= np.isfinite(tel_pos).all(axis=1)
    w = np.where(usable, weight, 0.0)
    n_ok = np.where(usable[:, None], normal, 0.0)
    mult = np.bincount(event_index[usable], minlength=n_events)
    good = mult >= 2

    # direction: smallest eigenvector of sum w n n^T
    outer = w[:, None, None] * n_ok[:, :, None] * n_ok[:, None, :]
    m = _sum_per_event(event_index, outer, n_events)
    m[~good] = np.eye(3)
    _, vecs = np.linalg.eigh(m)
    direction = vecs[:, :, 0]
    pointing = altaz_to_vector(pointing_alt, pointing_az)
    point_ev = _sum_per_event(event_index, np.where(usable[:, None], pointing, 0.0), n_events)
    sign = np.sign(np.einsum("ij,ij->i", direction, point_ev))
    direction *= np.where(sign == 0, 1.0, sign)[:, None]
    direction[~good] = np.nan
    alt, az = vector_to_altaz(direction)

    # core: minimise sum w (n . (c - T))^2 over c = (cx, cy, 0)
    nxy = n_ok[:, :2]
    a = _sum_per_event(event_index, w[:, None, None] * nxy[:, :, None] * nxy[:, None, :], n_events)
    rhs = np.einsum("ij,ij->i", n_ok, np.where(usable[:, None], tel_pos, 0.0))
    b = _sum_per_event(event_index, (w * rhs)[:, None] * nxy, n_events)
    a[~good] = np.eye(2)
    core = np.linalg.solve(a, b[..., None])[..., 0]
    core[~good] = np.nan
    core3 = np.column_stack([core, np.zeros(n_events)])

    # impact: distance of each telescope from the axis through the core
    rel = tel_pos - core3[event_index]
    d_img = direction[event_index]
    along = np.einsum("ij,ij->i", rel, d_img)
    impact = np.linalg.norm(rel - along[:, None] * d_img, axis=1)

    # shower maximum: point closest to the lines of sight through the image centroids
    wi = np.where(usable, intensity, 0.0)
    proj = np.eye(3)[None] - cog[:, :, None] * cog[:, None, :]
    proj = np.where(usable[:, None, None], proj, 0.0)
    pa = _sum_per_event(event_index, wi[:, None, None] * proj, n_events)
    pb = _sum_per_event(
        event_index,
        wi[:, None] * np.einsum("ijk,ik->ij", proj, np.where(usable[:, None], tel_pos, 0.0)),
        n_events,
    )
    pa[~good] = np.eye(3)
    point = np.linalg.solve(pa, pb[..., None])[..., 0]
    h_max = np.where(good, point[:, 2], np.nan)

    return {
        "alt": alt,
        "az": az,
        "core_x": core[:, 0],
        "core_y": core[:, 1],
        "h_max": h_max,
        "multiplicity": mult,
        "impact_distance": impact,
    }
