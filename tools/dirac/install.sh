#!/usr/bin/env bash
# Install what a one-host DIRAC needs: Debian packages (MariaDB, the build dependencies of
# M2Crypto and mysqlclient) and DIRAC in a virtual environment of its own.
#
#   tools/dirac/install.sh VENV       # e.g. /tmp/showerflow-dirac/venv
#
# DIRAC's pins (tornado 5.1, M2Crypto, SQLAlchemy...) clash with Snakemake's, hence its own
# venv. The venv is reused when it already holds this DIRAC version; pip's wheel cache
# ($PIP_CACHE_DIR, default ~/.cache/pip) keeps the compiled wheels for the next build.
# Facts behind each step: ../shared/notes/local-dirac/README.md.
set -euo pipefail
VENV=${1:?usage: install.sh VENV}
HERE=$(cd "$(dirname "$0")" && pwd)
DIRAC_VERSION=${SHOWERFLOW_DIRAC_VERSION:-9.1.22}
say() { echo "showerflow-dirac: $(date +%T) $*"; }

# 1. Debian packages (only those missing; needs root)
need=()
for pkg in mariadb-server mariadb-client default-libmysqlclient-dev libssl-dev swig pkg-config; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  say "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. DIRAC in its own venv
if [ -f "$VENV/.showerflow-dirac-$DIRAC_VERSION" ]; then
  say "DIRAC $DIRAC_VERSION venv already in $VENV"
  exit 0
fi
say "building the DIRAC $DIRAC_VERSION venv in $VENV (several minutes: M2Crypto and tornado compile)"
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q -U pip wheel setuptools
# gfal2-python does not build here and nothing used here needs it: DIRAC's other
# dependencies first, then DIRAC itself without dependencies.
"$VENV/bin/pip" install -q -r "$HERE/requirements.txt" -c "$HERE/constraints.txt" \
  "DIRACCommon==$DIRAC_VERSION" mysqlclient tornado-m2crypto
"$VENV/bin/pip" install -q --no-deps "DIRAC==$DIRAC_VERSION"
# The JobAgent writes the job wrapper with os.path.realpath(sys.executable): a venv symlink
# would resolve to the base interpreter, which cannot import DIRAC. Make it a real file.
real=$(realpath "$VENV/bin/python3")
cp --remove-destination "$real" "$VENV/bin/python3.11"
ln -sf python3.11 "$VENV/bin/python3"
ln -sf python3.11 "$VENV/bin/python"
# DIRAC 9.1 keeps job parameters in OpenSearch only, which no registry here has: a class
# with the same methods on MySQL is appended to that module (the only DIRAC code changed).
mod=$("$VENV/bin/python" -c 'import DIRAC, os; print(os.path.dirname(DIRAC.__file__))')/WorkloadManagementSystem/DB/JobParametersDB.py
cp -n "$mod" "$mod.orig"
cat "$mod.orig" "$HERE/jobparams_mysql.py" >"$mod"
touch "$VENV/.showerflow-dirac-$DIRAC_VERSION"
say "DIRAC $DIRAC_VERSION installed in $VENV"
