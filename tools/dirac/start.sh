#!/usr/bin/env bash
# Start a one-host DIRAC in a folder: File Catalog, WMS services, optimizers, a JobAgent
# loop with an InProcess computing element, a private MariaDB, a self-made CA, host and
# user certificates and a user proxy.
#
#   tools/dirac/start.sh STATE        # everything under STATE (created; wiped if stale)
#   source tools/dirac/env.sh STATE   # then: dirac-* commands, showerflow's dirac executor
#   tools/dirac/stop.sh STATE         # stops exactly what this started, by PID
#
# Environment:
#   SHOWERFLOW_DIRAC_VENV     DIRAC's venv (default STATE/venv; built by install.sh if absent)
#   SHOWERFLOW_DIRAC_DB_PORT  MariaDB TCP port on 127.0.0.1 (default 13306)
#   SHOWERFLOW_DIRAC_PILOT_HOURS  the JobAgent loops stop by themselves after this (default 6)
#   SHOWERFLOW_DIRAC_PILOTS   JobAgent loops running side by side (default 2: jobs in parallel)
# Services listen on 127.0.0.1/localhost ports 9130-9197 (DIRAC's defaults). Needs root
# (MariaDB runs as root here) and the Debian packages install.sh installs.
# The facts behind each step: ../shared/notes/local-dirac/README.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
STATE=${1:?usage: start.sh STATE}
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
export SHOWERFLOW_DIRAC_VENV=${SHOWERFLOW_DIRAC_VENV:-$STATE/venv}
DBPORT=${SHOWERFLOW_DIRAC_DB_PORT:-13306}
PILOT_HOURS=${SHOWERFLOW_DIRAC_PILOT_HOURS:-6}
PILOTS=${SHOWERFLOW_DIRAC_PILOTS:-2}
t0=$(date +%s)
say() { echo "showerflow-dirac: $(date +%T) (+$(($(date +%s) - t0)) s) $*"; }
die() { echo "showerflow-dirac: error: $*" >&2; exit 1; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if alive "$STATE/pids/wms.pid"; then
  say "already running (state in $STATE)"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "must run as root (the private MariaDB runs as root)"

# 1. software
"$HERE/install.sh" "$SHOWERFLOW_DIRAC_VENV"
for cmd in mariadbd mariadb-install-db mariadb openssl; do
  command -v "$cmd" >/dev/null || die "$cmd missing: run tools/dirac/install.sh"
done

# a fresh state (the venv is kept when it lives inside)
find "$STATE" -mindepth 1 -maxdepth 1 ! -path "$SHOWERFLOW_DIRAC_VENV" -exec rm -rf {} +
mkdir -p "$STATE"/{pids,log}
echo "$SHOWERFLOW_DIRAC_VENV" >"$STATE/venv.path"  # for env.sh
echo "$DBPORT" >"$STATE/db.port"                  # for pilot_loop.sh
trap 'rc=$?; [ $rc -eq 0 ] || "$HERE/stop.sh" "$STATE" >&2; exit $rc' EXIT

# Start "$@" in the background, detached, as the leader of a process group of its own, with
# no file descriptor but 0-2 inherited (a daemon must not keep, e.g., a flock lock held);
# record its PID.
start() {
  local name=$1
  shift
  (
    for fd in /proc/$BASHPID/fd/*; do
      n=${fd##*/}
      if [ "$n" -gt 2 ] 2>/dev/null; then eval "exec $n>&-"; fi
    done
    exec setsid nohup "$@" </dev/null >>"$STATE/log/$name.log" 2>&1
  ) &
  echo $! >"$STATE/pids/$name.pid"
}
wait_port() { # port seconds
  for _ in $(seq "$(($2 * 2))"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.5
  done
  return 1
}

# 2. MariaDB of its own (data under STATE, TCP on 127.0.0.1 only)
say "MariaDB on 127.0.0.1:$DBPORT"
M=$STATE/mysql
mkdir -p "$M/data" "$M/run"
mariadb-install-db --no-defaults --datadir="$M/data" --user=root \
  --auth-root-authentication-method=normal --skip-test-db >"$STATE/log/mariadb-install.log" 2>&1 ||
  die "mariadb-install-db failed ($STATE/log/mariadb-install.log)"
start mariadbd mariadbd --no-defaults --user=root --datadir="$M/data" --socket="$M/run/mysqld.sock" \
  --pid-file="$M/run/mysqld.pid" --port="$DBPORT" --bind-address=127.0.0.1 --skip-name-resolve \
  --innodb-buffer-pool-size=64M --log-error="$STATE/log/mariadb.err"
for _ in $(seq 60); do [ -S "$M/run/mysqld.sock" ] && break; sleep 0.5; done
[ -S "$M/run/mysqld.sock" ] || die "mariadbd did not start ($STATE/log/mariadb.err)"
mariadb --no-defaults --socket="$M/run/mysqld.sock" -uroot -e "
  ALTER USER 'root'@'localhost' IDENTIFIED BY 'rootpw';
  CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY 'rootpw';
  ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY 'rootpw';
  GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
  CREATE USER IF NOT EXISTS 'Dirac'@'%' IDENTIFIED BY 'diracpw';"
SQL=(mariadb --no-defaults -h127.0.0.1 -P"$DBPORT" -uroot -prootpw)

# 3. certificates, 4. configuration
say "CA, host and user certificates"
"$HERE/certs.sh" "$STATE" >"$STATE/log/certs.log" 2>&1 || die "certificates failed ($STATE/log/certs.log)"
"$SHOWERFLOW_DIRAC_VENV/bin/python" "$HERE/make_config.py" "$STATE" "$DBPORT"

# 5. databases, as ComponentInstaller.installDatabase makes them
say "databases"
SITE=$("$SHOWERFLOW_DIRAC_VENV/bin/python" -c 'import DIRAC, os; print(os.path.dirname(DIRAC.__file__))')
for db in FileCatalogDB ResourceStatusDB ResourceManagementDB ProxyDB JobDB JobLoggingDB \
  TaskQueueDB SandboxMetadataDB PilotAgentsDB; do
  sql=$(find "$SITE" -name "$db.sql" | head -1)
  "${SQL[@]}" -e "CREATE DATABASE \`$db\`; GRANT SELECT,INSERT,LOCK TABLES,UPDATE,DELETE,CREATE,DROP,ALTER,REFERENCES,CREATE VIEW,SHOW VIEW,INDEX,TRIGGER,ALTER ROUTINE,CREATE ROUTINE,EXECUTE,CREATE TEMPORARY TABLES ON \`$db\`.* TO 'Dirac'@'%';"
  if grep -q 'CREATE TABLE' "$sql"; then
    grep -vE '^\s*(CREATE DATABASE|DROP DATABASE|USE )' "$sql" | "${SQL[@]}" "$db"
  fi
done

# 6. services (two processes) and the optimizers
say "services"
"$HERE/services.sh" "$STATE" start >/dev/null

# 7. proxies: dirac_admin to sync the Resource Status, then the user's (uploaded to the
# ProxyManager, from which the JobAgent gets each payload's proxy)
say "proxy, Resource Status"
(
  source "$HERE/env.sh" "$STATE" client
  dirac-proxy-init -N -g dirac_admin -C "$STATE/user/client.pem" -K "$STATE/user/client.key" \
    --out "$X509_USER_PROXY" >"$STATE/log/proxy.log" 2>&1 || die "dirac-proxy-init failed ($STATE/log/proxy.log)"
  dirac-rss-sync --element Resource >>"$STATE/log/rss.log" 2>&1
  dirac-rss-sync --element Site >>"$STATE/log/rss.log" 2>&1
  dirac-rss-sync --init >>"$STATE/log/rss.log" 2>&1 || true
  dirac-proxy-init -g dirac_user -C "$STATE/user/client.pem" -K "$STATE/user/client.key" \
    --out "$X509_USER_PROXY" >>"$STATE/log/proxy.log" 2>&1 || die "dirac-proxy-init failed ($STATE/log/proxy.log)"
)

# 8. the JobAgent loop ("pilots")
say "JobAgent loops: $PILOTS"
SHOWERFLOW_DIRAC_PILOTS=$PILOTS SHOWERFLOW_DIRAC_PILOT_HOURS=$PILOT_HOURS "$HERE/services.sh" "$STATE" start-pilots
say "ready: source $HERE/env.sh $STATE"
