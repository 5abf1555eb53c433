#!/usr/bin/env bash
# Start a single-node SLURM cluster with accounting on this machine, for tests and demos.
#
#   tools/slurm/start.sh            # state, logs and PIDs under $SHOWERFLOW_SLURM_STATE
#   tools/slurm/stop.sh             # stops exactly the daemons this script started
#
# Installs nothing. Needs root and the Debian packages
#   munge slurmctld slurmd slurm-client slurmdbd mariadb-server mariadb-client
# Starts, in this order, each in the background with its PID recorded in $STATE/pids/:
#   munged (unless a working one is already running: it is then reused, never stopped),
#   mariadbd (its own data directory under $STATE, TCP on 127.0.0.1:$SHOWERFLOW_SLURM_DB_PORT),
#   slurmdbd, slurmctld, slurmd. Then registers cluster, account and user with sacctmgr and
# waits until the node is idle. Writes /etc/slurm/slurm.conf and /etc/slurm/slurmdbd.conf
# (refuses to overwrite files it did not write). The facts behind each setting:
# ../shared/notes/local-slurm.md. Environment:
#   SHOWERFLOW_SLURM_STATE    state directory (default /tmp/showerflow-slurm; wiped on start)
#   SHOWERFLOW_SLURM_DB_PORT  MariaDB TCP port (default 3307, so a system MariaDB is untouched)
#   SHOWERFLOW_SLURM_CLUSTER  cluster name (default showerflow)
#   SHOWERFLOW_SLURM_ACCOUNT  account every job is charged to (default showerflow)
set -euo pipefail

STATE=${SHOWERFLOW_SLURM_STATE:-/tmp/showerflow-slurm}
DB_PORT=${SHOWERFLOW_SLURM_DB_PORT:-3307}
CLUSTER=${SHOWERFLOW_SLURM_CLUSTER:-showerflow}
ACCOUNT=${SHOWERFLOW_SLURM_ACCOUNT:-showerflow}
CONF_DIR=/etc/slurm
MARKER="# written by showerflow tools/slurm/start.sh"
NODE=$(hostname -s)
DB_PASS=showerflow-test   # a throw-away database reachable only on 127.0.0.1

say() { echo "showerflow-slurm: $*"; }
die() { echo "showerflow-slurm: error: $*" >&2; exit 1; }

# --- preconditions -------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "must run as root (daemons run as root/munge/mysql)"
missing=()
for cmd in munged munge unmunge mariadbd mariadb-install-db mariadb slurmdbd slurmctld slurmd \
  sacctmgr sinfo scontrol sbatch sacct setpriv; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
[ ${#missing[@]} -eq 0 ] || die "missing commands: ${missing[*]}; install with: apt-get install -y \
--no-install-recommends munge slurmctld slurmd slurm-client slurmdbd mariadb-server mariadb-client"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if alive "$STATE/pids/slurmctld.pid"; then
  say "already running (state in $STATE)"
  exit 0
fi
for f in "$CONF_DIR/slurm.conf" "$CONF_DIR/slurmdbd.conf"; do
  if [ -f "$f" ] && ! head -1 "$f" | grep -qF "$MARKER"; then
    die "$f exists and was not written by this script; move it away first"
  fi
done

rm -rf "$STATE"
mkdir -p "$STATE"/{pids,log,slurmctld,slurmd}
chmod 755 "$STATE" "$STATE/log"
# on any failure below, stop what was started so far
trap 'rc=$?; [ $rc -eq 0 ] || "$(dirname "$0")/stop.sh" >&2; exit $rc' EXIT

# Start "$@" in the background, detached from our stdin/stdout, and record its PID.
start() {
  local name=$1
  shift
  nohup "$@" </dev/null >>"$STATE/log/$name.out" 2>&1 &
  echo $! >"$STATE/pids/$name.pid"
}

# Wait up to $1 seconds for the command "${@:2}" to succeed.
wait_for() {
  local t=$1
  shift
  for _ in $(seq "$((t * 5))"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

# --- 1. munge ------------------------------------------------------------------------------
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "munged already running: reusing it (not stopped by stop.sh)"
else
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key
  fi
  chown -R munge:munge /etc/munge
  chmod 700 /etc/munge
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  start munged setpriv --reuid=munge --regid=munge --init-groups \
    munged --foreground --force --log-file="$STATE/log/munged.log"
  wait_for 10 bash -c 'munge -n | unmunge' || die "munged did not start ($STATE/log/munged.log)"
fi

# --- 2. MariaDB (own data directory, TCP on 127.0.0.1 only) ---------------------------------
mkdir -p "$STATE/mysql"
chown mysql:mysql "$STATE/mysql"
mariadb-install-db --no-defaults --user=mysql --datadir="$STATE/mysql" --skip-test-db \
  --auth-root-authentication-method=socket >"$STATE/log/mariadb-install.log" 2>&1 ||
  die "mariadb-install-db failed ($STATE/log/mariadb-install.log)"
start mariadbd mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql" \
  --socket="$STATE/mysql/mysql.sock" --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
  --pid-file="$STATE/mysql/mariadbd.pid" --log-error="$STATE/mysql/mariadb.log"
SQL=(mariadb --no-defaults --socket="$STATE/mysql/mysql.sock" -u root)
wait_for 30 "${SQL[@]}" -e 'SELECT 1' || die "mariadbd did not start ($STATE/mysql/mariadb.log)"
"${SQL[@]}" -e "CREATE DATABASE slurm_acct_db;
  CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"

# --- 3. slurmdbd ---------------------------------------------------------------------------
mkdir -p "$CONF_DIR"
cat >"$CONF_DIR/slurmdbd.conf" <<EOF
$MARKER (state in $STATE)
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
LogFile=$STATE/log/slurmdbd.log
PidFile=$STATE/slurmdbd.pid
EOF
chmod 600 "$CONF_DIR/slurmdbd.conf"
chown root:root "$CONF_DIR/slurmdbd.conf"

# slurm.conf before slurmdbd: sacctmgr reads it to find the slurmdbd.
read -r CPUS BOARDS SOCKETS CORES THREADS MEM < <(slurmd -C | head -1 | sed -E \
  's/.*CPUs=([0-9]+) Boards=([0-9]+) SocketsPerBoard=([0-9]+) CoresPerSocket=([0-9]+) ThreadsPerCore=([0-9]+) RealMemory=([0-9]+).*/\1 \2 \3 \4 \5 \6/')
REAL_MEM=$((MEM * 9 / 10)) # declaring more than the node reports drains it
cat >"$CONF_DIR/slurm.conf" <<EOF
$MARKER (state in $STATE)
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# no cgroups on this machine kind: linuxproc tracking, no task plugin (limits not enforced
# by the kernel; the time limit is enforced by slurmctld)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
ReturnToService=2
# keep finished jobs visible to squeue for 10 min; kill a job 5 s after its time limit
MinJobAge=600
KillWait=5
MailProg=/bin/true
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
# keep sbatch --comment (the plugin writes rule_<name>_wildcards_<...>) in the accounting
AccountingStoreFlags=job_comment
JobAcctGatherFrequency=10
JobCompType=jobcomp/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS Boards=$BOARDS SocketsPerBoard=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$REAL_MEM State=UNKNOWN
PartitionName=main Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
chmod 644 "$CONF_DIR/slurm.conf"

start slurmdbd slurmdbd -D
wait_for 30 sacctmgr -n list cluster || die "slurmdbd did not answer ($STATE/log/slurmdbd.log)"
sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description=showerflow Organization=test \
  >/dev/null
sacctmgr -i add user root Account="$ACCOUNT" DefaultAccount="$ACCOUNT" Cluster="$CLUSTER" >/dev/null

# --- 4. slurmctld, slurmd ------------------------------------------------------------------
start slurmctld slurmctld -D
wait_for 30 scontrol ping || die "slurmctld did not start ($STATE/log/slurmctld.log)"
start slurmd slurmd -D -N "$NODE"
node_state() { sinfo -h -N -n "$NODE" -o %t 2>/dev/null; }
for _ in $(seq 150); do
  case "$(node_state)" in
  idle*) break ;;
  down* | drain* | drng*) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 0.2
done
[[ "$(node_state)" == idle* ]] || die "node $NODE is '$(node_state)', not idle ($STATE/log/)"
say "running: cluster $CLUSTER, node $NODE ($CPUS CPUs, ${REAL_MEM} MB), account $ACCOUNT, state in $STATE"
