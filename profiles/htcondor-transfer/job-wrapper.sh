#!/bin/bash
# HTCondor executable for profiles/htcondor-transfer: runs one Snakemake job on an execution
# point (EP) that shares no filesystem with the access point. The plugin transfers this
# script and passes Snakemake's job arguments ("$@").
#
# The EP needs Python with showerflow and Snakemake. Say where with SHOWERFLOW_SETUP (set in
# the profile's `environment` resource): a script to source (a venv's bin/activate, a conda
# or CVMFS/LCG view setup). Without it, python3 from the EP's PATH must already have them.
set -euo pipefail
export HOME="$PWD"   # caches (matplotlib, numba, ...) go to the job's scratch directory
export MPLCONFIGDIR="$PWD/.matplotlib"
if [ -n "${SHOWERFLOW_SETUP:-}" ]; then
  # shellcheck disable=SC1090
  source "$SHOWERFLOW_SETUP"
fi
exec python3 -m snakemake "$@"
