"""Extract the prod5 reference curves shipped in src/showerflow/data/reference.

Reads the public CTAO prod5 v0.1 IRFs (GADF FITS, CC BY 4.0) from the project's shared
data (``../shared/data/reference/irfs``) with gammapy and writes one small ECSV file per
curve and site, with the source file's SHA-256 and the method in the header:

- effective area: the EFFECTIVE AREA HDU's first FoV-offset bin (0–1°), as stored;
- angular resolution: the 68 % containment radius of the PSF in that bin;
- energy bias and resolution: :func:`showerflow.reference.migration_bias_resolution` of the
  ENERGY DISPERSION in that bin (median of E_reco/E_true − 1; 68.27 % of |μ − median|);
- background rate: the BACKGROUND HDU averaged over the field of view within 1°;
- sensitivity: :func:`showerflow.reference.irf_sensitivity` (pyirf's 5σ Li & Ma,
  ≥ 10 excess events, excess ≥ 5 % of background, α = 0.2, 50 h) with the Crab (HEGRA)
  signal folded with effective area, energy dispersion and PSF containment inside a θ
  cut equal to the PSF's 68 % radius at the reconstructed bin's energy, and the
  background rate times that cut's solid angle. This is an estimate from the IRFs, not
  the CTAO's published prod5 curve (which optimises cuts on events).

Run from the repository root (needs gammapy and regions==0.10, the ``test`` extra):

    python tools/extract_prod5_reference.py            # or --irfs /path/to/irfs
"""

from __future__ import annotations

import argparse
import hashlib
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.table import QTable

from showerflow.reference import (
    _PROD5_FILES,
    PROD5_IRFS,
    REFERENCE_DIR,
    irf_sensitivity,
    migration_bias_resolution,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IRFS = REPO.parent / "shared" / "data" / "reference" / "irfs"
OFFSET = 0.5 * u.deg  # centre of the first FoV-offset bin (0–1°): the tabulated values
BACKGROUND_RADIUS = 1.0 * u.deg
OBSERVATION_TIME = 50 * u.h
ALPHA = 0.2


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _bins(axis):
    edges = axis.edges.to(u.TeV)
    return edges[:-1], edges[1:], np.sqrt(edges[:-1] * edges[1:])


def _table(lo, hi, center, meta, **columns):
    table = QTable({"energy_low": lo, "energy_high": hi, "energy": center, **columns})
    table.meta.update(meta)
    return table


def effective_area(irfs, meta):
    aeff = irfs["aeff"]
    lo, hi, center = _bins(aeff.axes["energy_true"])
    area = aeff.evaluate(energy_true=center, offset=OFFSET).to(u.m**2)
    return _table(lo, hi, center, meta, effective_area=area)


def angular_resolution(irfs, meta):
    psf = irfs["psf"]
    lo, hi, center = _bins(psf.axes["energy_true"])
    radius = psf.containment_radius(fraction=0.68, energy_true=center, offset=OFFSET)
    return _table(lo, hi, center, meta, angular_resolution=radius.to(u.deg))


def energy_resolution(irfs, meta, e_min=0.0125 * u.TeV, e_max=200 * u.TeV):
    edisp = irfs["edisp"]
    lo, hi, center = _bins(edisp.axes["energy_true"])
    migra = edisp.axes["migra"].edges.to_value(u.one)
    i_offset = int(np.searchsorted(edisp.axes["offset"].edges, OFFSET) - 1)
    data = edisp.quantity[:, :, i_offset].to_value(u.one)  # (energy_true, migra)
    keep = (lo >= e_min) & (hi <= e_max) & (data.sum(axis=1) > 0)
    bias, res = np.array([migration_bias_resolution(migra, row) for row in data[keep]]).T
    return _table(lo[keep], hi[keep], center[keep], meta, energy_bias=bias, energy_resolution=res)


def _fov_mask(bkg, radius):
    lon = bkg.axes["fov_lon"].center
    lat = bkg.axes["fov_lat"].center
    r = np.hypot(lon[:, None], lat[None, :])
    return r < radius


def background_rate(irfs, meta):
    bkg = irfs["bkg"]
    lo, hi, center = _bins(bkg.axes["energy"])
    mask = _fov_mask(bkg, BACKGROUND_RADIUS)
    data = bkg.quantity  # (energy, fov_lon, fov_lat)
    rate = data[:, mask].mean(axis=1).to(u.Unit("s-1 TeV-1 sr-1"))
    return _table(lo, hi, center, meta, background_rate=rate)


def sensitivity(irfs, meta):
    from gammapy.maps import MapAxis
    from pyirf.spectral import CRAB_HEGRA

    aeff, psf, edisp = irfs["aeff"], irfs["psf"], irfs["edisp"]
    background = background_rate(irfs, meta)
    reco_edges = np.append(background["energy_low"], background["energy_high"][-1])
    reco_center = background["energy"]
    true_axis = edisp.axes["energy_true"]
    true_center = true_axis.center.to(u.TeV)
    kernel = edisp.to_edisp_kernel(
        offset=OFFSET,
        energy_axis_true=true_axis,
        energy_axis=MapAxis.from_energy_edges(reco_edges),
    )
    migration = kernel.pdf_matrix  # (n_true, n_reco): P(reco bin | true energy)
    theta = psf.containment_radius(fraction=0.68, energy_true=reco_center, offset=OFFSET)
    containment = u.Quantity(
        psf.containment(rad=theta[None, :], energy_true=true_center[:, None], offset=OFFSET)
    ).to_value(u.one)
    flux = CRAB_HEGRA(true_center) * true_axis.bin_width.to(u.TeV)  # per true bin
    area = aeff.evaluate(energy_true=true_center, offset=OFFSET)
    signal = ((flux * area)[:, None] * migration * containment).sum(axis=0).to(1 / u.s)
    solid_angle = (2 * np.pi * (1 - np.cos(theta.to_value(u.rad)))) * u.sr
    width = background["energy_high"] - background["energy_low"]
    bkg = (background["background_rate"] * width * solid_angle).to(1 / u.s)
    table = irf_sensitivity(reco_edges, signal, bkg, OBSERVATION_TIME, CRAB_HEGRA, alpha=ALPHA)
    table["theta_cut"] = theta.to(u.deg)
    table.meta.update(meta)
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--irfs", type=Path, default=DEFAULT_IRFS, help="folder of the IRFs")
    parser.add_argument("--out", type=Path, default=REFERENCE_DIR, help="output folder")
    args = parser.parse_args(argv)
    from gammapy.irf import load_irf_dict_from_file

    makers = {
        "effective_area": effective_area,
        "angular_resolution": angular_resolution,
        "energy_resolution": energy_resolution,
        "background_rate": background_rate,
        "sensitivity": sensitivity,
    }
    for site, name in PROD5_IRFS.items():
        path = args.irfs / name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            irfs = load_irf_dict_from_file(path)
        for quantity, make in makers.items():
            meta = {
                "source_file": name,
                "source_sha256": _sha256(path),
                "source": "CTAO prod5 v0.1 IRFs, doi:10.5281/zenodo.5499840, CC BY 4.0",
                "site": site,
                "zenith_deg": 20.0,
                "observation_time_h": 50.0,
                "quantity": quantity,
                "method": MAKERS_DOC[quantity],
                "made_by": "tools/extract_prod5_reference.py",
            }
            table = make(irfs, meta)
            out = args.out / _PROD5_FILES[quantity].format(site=site)
            table.write(out, format="ascii.ecsv", overwrite=True)
            print(
                f"{out.relative_to(REPO) if out.is_relative_to(REPO) else out}: {len(table)} rows"
            )


MAKERS_DOC = {
    "effective_area": "EFFECTIVE AREA HDU, FoV-offset bin 0-1 deg, as stored (g/h cuts of the IRF, no theta cut)",
    "angular_resolution": "68 % containment radius of the PSF (gammapy), FoV-offset bin 0-1 deg",
    "energy_resolution": "ENERGY DISPERSION, FoV-offset bin 0-1 deg: bias = median(E_reco/E_true) - 1, "
    "resolution = 68.27 % quantile of |E_reco/E_true - median| (linear CDF inside migration bins)",
    "background_rate": "BACKGROUND HDU averaged over FoV positions within 1 deg of the centre",
    "sensitivity": "estimate from the IRFs: Crab (HEGRA) x effective area x energy dispersion x PSF "
    "containment in a theta cut = PSF 68 % radius at the reco bin energy; background = "
    "background rate x cut solid angle; pyirf calculate_sensitivity (5 sigma Li & Ma, >= 10 "
    "excess events, excess >= 5 % of background, alpha 0.2, 50 h). Not the CTAO's published curve.",
}


if __name__ == "__main__":
    main()
