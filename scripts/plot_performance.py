"""Snakemake adapter: plots of IRFs, cuts, sensitivity and benchmarks (showerflow.plots)."""

from astropy.io import fits
from astropy.table import QTable

from showerflow import plots
from showerflow.logs import setup_logging
from showerflow.performance import load_performance_config, read_cuts
from showerflow.reference import reference_curves

setup_logging(snakemake.log[0])
i, o = snakemake.input, snakemake.output
ref = reference_curves(load_performance_config(i.config)["reference"])
req, prod3b, prod5 = ref["requirement"], ref["prod3b"], ref["prod5"]
table = {name: QTable.read(i[name]) for name in i.keys() if i[name].endswith(".ecsv")}
with fits.open(i.irf) as irf:
    figures = {
        o.sensitivity: plots.plot_sensitivity(
            table["sensitivity"],
            req.get("sensitivity"),
            prod3b.get("sensitivity"),
            prod5=prod5.get("sensitivity"),
        ),
        o.sensitivity_offset: plots.plot_sensitivity_offset(
            table["sensitivity_offset"], on_axis=table["sensitivity"]
        ),
        o.angular_resolution: plots.plot_angular_resolution(
            table["angular_resolution"],
            req.get("angular_resolution"),
            prod3b.get("angular_resolution"),
            prod5=prod5.get("angular_resolution"),
        ),
        o.angular_resolution_containment: plots.plot_angular_resolution_containment(
            table["angular_resolution"], table["angular_resolution_reco"]
        ),
        o.energy_bias_resolution: plots.plot_energy_bias_resolution(
            table["energy_bias_resolution"],
            req.get("energy_resolution"),
            prod3b.get("energy_resolution"),
            prod5=prod5.get("energy_resolution"),
            reco_table=table["energy_bias_resolution_reco"],
        ),
        o.effective_area: plots.plot_effective_area(
            table["effective_area"],
            req.get("effective_area"),
            prod3b.get("effective_area"),
            prod5=prod5.get("effective_area"),
        ),
        o.background: plots.plot_background_rate(
            irf, prod3b.get("background_rate"), prod5=prod5.get("background_rate")
        ),
        o.cuts: plots.plot_theta_gh_cuts(read_cuts(i.cuts)),
    }
for path, fig in figures.items():
    plots.save_figure(fig, path)
