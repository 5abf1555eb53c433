# The run's configuration as the jobs saw it, for the HTML report (`snakemake --report`).
# A local rule: it only writes the config Snakemake already holds, not worth a batch job.
from showerflow.provenance import config_digest
from showerflow.workflow import analysis_config


rule report_config:
    input:
        performance=config["performance"]["config"],
        models=list(config["models"].values()),
    output:
        config=report(
            f"{R}/report/config.yaml",
            caption="../report/config.rst",
            category="3. Configuration",
            subcategory="Resolved config",
        ),
    log:
        f"{R}/logs/report/config.log",
    localrule: True
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    params:
        # what the report shows changes only with the analysis keys, not operational ones
        digest=config_digest(analysis_config(config)),
    script:
        "../scripts/report_config.py"
