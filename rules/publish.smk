# One local job per per-file output: it gives the file its batch wrote into the staging
# folder its final name (a hard link; the staging folder is temporary). So every output
# is one Snakemake sees: a deleted or damaged one is named by `snakemake -n` and redone.


rule publish:
    input:
        unpack(publish_inputs),
    output:
        f"{R}/{{folder}}/{{dataset}}/{{id}}.parquet",
    log:
        f"{R}/logs/publish/{{folder}}/{{dataset}}/{{id}}.log",
    wildcard_constraints:
        folder=FOLDERS,
        id="[^/]+",
    localrule: True
    conda:
        "../envs/showerflow.yaml"
    shell:
        # {input} is the plan and the staging folder (`publish_inputs`)
        'for d in {input}; do [ -d "$d" ] && src="$d/{wildcards.id}.parquet"; done; '
        'if [ ! -f "${{src:-}}" ]; then echo "{output}: the batch left no output for it in '
        '${{src:-its staging folder}}" | tee {log} >&2; exit 1; fi; '
        'ln -f "$src" {output} 2> {log} || {{ cp -p "$src" {output}.tmp && mv {output}.tmp {output}; }}'
