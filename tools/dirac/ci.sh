#!/usr/bin/env bash
# The DIRAC tests against a real one-host DIRAC: install what it needs (Debian packages,
# DIRAC's own venv), start it, run the tests marked `dirac`, stop exactly what was started.
#
#   tools/dirac/ci.sh [pytest args]     # from anywhere, with showerflow's venv active
#
# Environment (all optional):
#   SHOWERFLOW_DIRAC_STATE  the server's folder (default /tmp/showerflow-dirac; wiped)
#   SHOWERFLOW_DIRAC_VENV   DIRAC's venv, reused when it holds the right version
#                           (default ~/.cache/showerflow/dirac-venv; pip's wheel cache in
#                           ~/.cache/pip makes a rebuild quick)
# Budget: setup within 10 minutes on a fresh machine (measured: docs/dirac.md), tests
# within 15. Needs root (apt-get, the private MariaDB).
set -euo pipefail
cd "$(dirname "$0")/../.."
STATE=${SHOWERFLOW_DIRAC_STATE:-/tmp/showerflow-dirac}
export SHOWERFLOW_DIRAC_VENV=${SHOWERFLOW_DIRAC_VENV:-$HOME/.cache/showerflow/dirac-venv}
PYTHON=${PYTHON:-python3}
t0=$(date +%s)
tools/dirac/start.sh "$STATE"
trap 'tools/dirac/stop.sh "$STATE"' EXIT
t1=$(date +%s)
echo "showerflow-dirac: setup took $((t1 - t0)) s"
SHOWERFLOW_DIRAC_STATE=$STATE "$PYTHON" -m pytest -m dirac tests/test_dirac_server.py "$@"
echo "showerflow-dirac: tests took $(($(date +%s) - t1)) s"
