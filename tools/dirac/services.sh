#!/usr/bin/env bash
# Stop or start the DIRAC services and optimizers of a running one-host DIRAC, leaving its
# MariaDB and JobAgent loops alone (start.sh uses `start`; tests stop the server mid-run),
# or the JobAgent loops alone.
#   tools/dirac/services.sh STATE stop|start|stop-pilots|start-pilots
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
STATE=$(cd "${1:?usage: services.sh STATE stop|start}" && pwd)
what=${2:?usage: services.sh STATE stop|start}
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
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
case "$what" in
  stop)
    for name in optimizers wms dm_rss; do
      f=$STATE/pids/$name.pid
      if alive "$f"; then
        pid=$(cat "$f")
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && { kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"; }
        echo "showerflow-dirac: stopped $name ($pid)"
      fi
      rm -f "$f"
    done
    ;;
  start)
    # shellcheck source=/dev/null
    source "$HERE/env.sh" "$STATE" server
    cd "$STATE"
    alive "$STATE/pids/dm_rss.pid" || start dm_rss dirac-service DataManagement/FileCatalog \
      ResourceStatus/ResourceStatus ResourceStatus/ResourceManagement
    alive "$STATE/pids/wms.pid" || start wms dirac-service Framework/ProxyManager \
      WorkloadManagement/JobManager WorkloadManagement/JobMonitoring \
      WorkloadManagement/JobStateUpdate WorkloadManagement/Matcher \
      WorkloadManagement/WMSAdministrator WorkloadManagement/PilotManager \
      WorkloadManagement/SandboxStore WorkloadManagement/OptimizationMind
    for port in 9197 9160 9172 9152 9132 9130 9136 9170 9145 9171 9196 9175; do
      wait_port "$port" 180 || { echo "showerflow-dirac: no service on port $port" >&2; exit 1; }
    done
    alive "$STATE/pids/optimizers.pid" || start optimizers dirac-executor WorkloadManagement/Optimizers
    echo "showerflow-dirac: services listening"
    ;;
  stop-pilots)
    for f in "$STATE"/pids/pilots*.pid; do
      [ -e "$f" ] || continue
      pid=$(cat "$f")
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      rm -f "$f"
      echo "showerflow-dirac: stopped $(basename "$f" .pid) ($pid)"
    done
    ;;
  start-pilots)
    rm -f "$STATE/stop_pilots"
    for i in $(seq "${SHOWERFLOW_DIRAC_PILOTS:-2}"); do
      alive "$STATE/pids/pilots$i.pid" ||
        start "pilots$i" "$HERE/pilot_loop.sh" "$STATE" "$((${SHOWERFLOW_DIRAC_PILOT_HOURS:-6} * 3600))" "$i"
    done
    ;;
  *) echo "usage: services.sh STATE stop|start|stop-pilots|start-pilots" >&2; exit 64 ;;
esac
