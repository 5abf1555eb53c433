#!/usr/bin/env bash
# DIRAC's real JobAgent with an InProcess computing element, one cycle at a time, on this
# host: a stand-in for a pilot factory. Started by start.sh; stops when STATE/stop_pilots
# exists or after DEADLINE seconds. (One long-lived JobAgent stops after its first payload,
# "No more time left", as no batch system reports the time left: hence one per cycle.)
#   pilot_loop.sh STATE DEADLINE [N]      (N: which loop, for its work folder and log)
STATE=${1:?usage: pilot_loop.sh STATE DEADLINE [N]}
DEADLINE=${2:-21600}
N=${3:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
source "$HERE/env.sh" "$STATE" pilot
GS=$STATE/etc/grid-security
end=$(($(date +%s) + DEADLINE))
mkdir -p "$STATE/work/$N"
cd "$STATE/work/$N"
DBPORT=$(cat "$STATE/db.port" 2>/dev/null || echo 13306)
# jobs waiting in DIRAC's task queues (a cheap query: an idle loop starts no JobAgent, each
# of which costs ~2 s of CPU)
waiting() {
  mariadb --no-defaults -h127.0.0.1 -P"$DBPORT" -uroot -prootpw -N \
    -e "SELECT COUNT(*) FROM TaskQueueDB.tq_Jobs" 2>/dev/null || echo 1
}
while [ ! -e "$STATE/stop_pilots" ] && [ "$(date +%s)" -lt "$end" ]; do
  if [ "$(waiting)" = 0 ]; then
    sleep 2
    continue
  fi
  dirac-agent WorkloadManagement/JobAgent -o /DIRAC/Security/UseServerCertificate=yes \
    -o /DIRAC/Security/CertFile="$GS/hostcert.pem" -o /DIRAC/Security/KeyFile="$GS/hostkey.pem" \
    -o MaxCycles=1 -o PollingTime=1 -o /LocalSite/CPUTime=10000000 >>"$STATE/log/jobagent$N.log" 2>&1
  sleep 2
done
