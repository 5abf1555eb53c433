# The run's configuration as the jobs saw it, for the HTML report (`snakemake --report`).
# A local rule: it only writes the config Snakemake already holds, not worth a batch job.


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
        config=config,
    script:
        "../scripts/report_config.py"
