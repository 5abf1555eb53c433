"""Snakemake adapter: plots of the models' metrics (showerflow.plots)."""

import json

from showerflow import plots
from showerflow.logs import setup_logging

setup_logging(snakemake.log[0])
i, o = snakemake.input, snakemake.output
energy = json.loads(open(i.energy).read())
classifier = json.loads(open(i.classifier).read())
figures = {
    o.energy: plots.plot_energy_model(energy),
    o.roc: plots.plot_roc(classifier),
    o.auc: plots.plot_auc_vs_energy(classifier),
    o.importances_energy: plots.plot_feature_importances(energy, title="Energy regressor"),
    o.importances_classifier: plots.plot_feature_importances(
        classifier, title="Gamma/hadron classifier"
    ),
}
for path, fig in figures.items():
    plots.save_figure(fig, path)
