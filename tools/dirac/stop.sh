#!/usr/bin/env bash
# Stop what tools/dirac/start.sh STATE started, by the PIDs it recorded in STATE/pids/
# (each was started as the leader of its own process group: the group is stopped, so a
# JobAgent cycle and its payload go with the loop). Leaves STATE in place.
#   tools/dirac/stop.sh STATE
STATE=${1:?usage: stop.sh STATE}
[ -d "$STATE/pids" ] || { echo "showerflow-dirac: nothing started in $STATE"; exit 0; }
touch "$STATE/stop_pilots"
stop_one() {
  local f=$STATE/pids/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"; fi
    echo "showerflow-dirac: stopped $1 ($pid)"
  fi
  rm -f "$f"
}
for f in "$STATE"/pids/pilots*.pid; do [ -e "$f" ] && stop_one "$(basename "$f" .pid)"; done
for name in optimizers wms dm_rss mariadbd; do stop_one "$name"; done
