# The default target on this branch: rules/common.smk's final_outputs() lists the old
# single IRF file (irf/irf.fits.gz); until it lists PERFORMANCE_TARGETS (rules/performance.smk)
# itself, this replaces that entry by the performance stage's products. Remove this file and
# its include when final_outputs() does.
_common_final_outputs = final_outputs


def final_outputs():
    """The default target: common.smk's, with the performance products of this branch."""
    old = {f"{R}/irf/irf.fits.gz"}
    kept = [p for p in _common_final_outputs() if p not in old]
    return kept + [p for p in PERFORMANCE_TARGETS if p not in kept]
