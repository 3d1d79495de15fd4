#!/usr/bin/env bash
# failover.sh: the failover benchmark of issue 12. N kills of the leader's whole site (SIGKILL of
# its nodes together) and N kills of the leader alone, under the drill's contact-center traffic in
# the namespace lab (12 ms / 20 ms round trips), each drill checked for lost or twice-applied
# writes; then where the time of each failover went and the distribution of the service gap per
# kind (deploy/drill/failover.py).
#
#   deploy/drill/failover.sh [--n N] [--kinds "kill-site kill-leader"] [--hold S] [--settle S]
#                            [--out DIR]
#
# N (default 20, at most 50) faults per kind; each takes about --hold + --settle + 5 s (default
# 6 + 6), so 20 + 20 take about 15 minutes. Output: DIR/kill-site/ and DIR/kill-leader/ (the
# drills' own outputs), DIR/failover.txt and DIR/failover.json (the breakdown and distributions),
# DIR/loadavg.txt (the load average before, during and after each drill: timing on a shared
# machine depends on it). Exit status: non-zero if a drill's checker failed.
# Environment: as deploy/drill.sh (CALLRAFT_BUILD, CALLRAFT_LAB_NS, CALLRAFT_PORT_BASE).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
n=20 kinds="kill-site kill-leader" hold=6 settle=6
out=/tmp/callraft-failover-$(date +%Y%m%d-%H%M%S)
while [ $# -gt 0 ]; do
  case "$1" in
    --n) n=$2; shift 2;;
    --kinds) kinds=$2; shift 2;;
    --hold) hold=$2; shift 2;;
    --settle) settle=$2; shift 2;;
    --out) out=$2; shift 2;;
    *) sed -n '2,16p' "$0"; exit 2;;
  esac
done
case "$n" in ''|*[!0-9]*) echo "failover: --n must be a number" >&2; exit 2;; esac
[ "$n" -ge 1 ] && [ "$n" -le 50 ] || { echo "failover: --n 1..50" >&2; exit 2; }
for k in $kinds; do
  case "$k" in kill-site|kill-leader) ;; *) echo "failover: kind '$k': kill-site or kill-leader" >&2; exit 2;; esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
rc=0 dirs=()
loadavg() { echo "$(date -u +%T) $1 $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/loadavg.txt"; }
for k in $kinds; do
  site=(); [ "$k" = kill-site ] && site=(--site leader)
  loadavg "start $k"
  # The load average is sampled every 10 s while the drill runs.
  (while sleep 10; do loadavg "during $k"; done) & sampler=$!
  set +e
  "$here/deploy/drill.sh" --fault "$k" "${site[@]}" --cycles "$n" --warmup 6 --hold "$hold" \
    --settle "$settle" --rate 20 --out "$out/$k" > "$out/$k.log" 2>&1
  r=$?
  set -e
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  loadavg "end $k (drill exit $r)"
  head -n 3 "$out/$k/report.txt" 2>/dev/null || true
  [ $r = 0 ] || { echo "failover: the $k drill failed its check (exit $r): $out/$k.log" >&2; rc=1; }
  dirs+=(--dir "$out/$k")
done
python3 "$here/deploy/drill/failover.py" "${dirs[@]}" --json "$out/failover.json" | tee "$out/failover.txt"
awk '/during/ {s += $(NF-2); c++; if ($(NF-2) > m) m = $(NF-2)} END {
  if (c) printf "load average (1 min) during the drills: mean %.1f, max %.1f over %d samples\n", s / c, m, c}' \
  "$out/loadavg.txt" | tee -a "$out/failover.txt"
echo "failover: $out/failover.txt, $out/failover.json"
exit $rc
