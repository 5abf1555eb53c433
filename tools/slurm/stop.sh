#!/usr/bin/env bash
# Stop the single-node SLURM cluster that tools/slurm/start.sh started.
#
# Cancels leftover jobs, then stops slurmd, slurmctld, slurmdbd, mariadbd and munged (in that
# order) by the PIDs start.sh recorded in $SHOWERFLOW_SLURM_STATE/pids/, never by name
# patterns. A PID is only signalled if its process still has the expected command name, so a
# recycled PID is left alone. Daemons start.sh reused (an already running munged) are not
# touched. Logs stay in $SHOWERFLOW_SLURM_STATE/log/.
set -uo pipefail

STATE=${SHOWERFLOW_SLURM_STATE:-/tmp/showerflow-slurm}
say() { echo "showerflow-slurm: $*"; }

if [ ! -d "$STATE/pids" ]; then
  say "nothing to stop (no $STATE/pids)"
  mkdir -p "$STATE/pids"  # the stops below then find no PID files
fi

if [ -f "$STATE/pids/slurmctld.pid" ] && kill -0 "$(cat "$STATE/pids/slurmctld.pid")" 2>/dev/null; then
  jobs=$(squeue -h -o %i 2>/dev/null || true)
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null || true
    say "cancelled jobs: $(echo $jobs)"
  fi
fi

# stop NAME EXPECTED_COMM: TERM the recorded PID, wait up to 20 s, then KILL.
stop() {
  local name=$1 comm=$2 file="$STATE/pids/$1.pid" pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$comm" ]; then
    say "$name (pid $pid) not running"
    rm -f "$file"
    return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    say "$name (pid $pid) killed"
  else
    say "$name (pid $pid) stopped"
  fi
  rm -f "$file"
}

stop slurmd slurmd
stop slurmctld slurmctld
stop slurmdbd slurmdbd
stop mariadbd mariadbd
stop munged munged

# Remove the configuration start.sh wrote (only files carrying its marker): with a
# slurm.conf present but no controller, every `snakemake` start waits ~9 s while the SLURM
# executor plugin asks `scontrol show config` at import.
CONF_DIR=/etc/slurm
MARKER="# written by showerflow tools/slurm/start.sh"
for f in "$CONF_DIR/slurm.conf" "$CONF_DIR/slurmdbd.conf"; do
  if [ -f "$f" ] && head -1 "$f" | grep -qF "$MARKER"; then
    rm -f "$f" && say "removed $f"
  fi
done
