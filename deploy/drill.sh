#!/usr/bin/env bash
# drill.sh: a chaos drill on the lab: traffic like a real center, one fault (or a seeded random
# sequence of faults), heal, settle, then an independent check of what every node holds.
#
#   deploy/drill.sh [--fault F] [--site S] [--node N] [--warmup S] [--hold S] [--settle S]
#                   [--rate R] [--cycles N] [--seed N] [--layout 2+2+1|1+1+1] [--loopback]
#                   [--clients all|site] [--out DIR]
#
# Faults F: kill-site (default), cut-site, restart-site, kill-leader, pause-leader, cut-link (the
# link between --site and the other call-center city only; the witness still reaches both;
# `link-cut` is the same), pause (SIGSTOP node --node: `leader` (default), `follower` (a node of
# --site, or of the other city if --site holds the leader: the first at the first pause, the next
# at the next, i.e. the one that site's clients use with --clients site) or an id; SIGCONT at the
# heal), site-loss (deploy/drill/siteloss.sh: the scripted site-loss scenario of issue 12,
# with checks), random (N cycles of any of them, chosen and timed from --seed). --site defaults to
# shiraz; `--site leader` picks the leader's site at the moment of the fault. Traffic:
# `callraft-traffic center` in tehran and shiraz, --rate calls/s in total (default 20); with
# `--clients all` (default) each site's PBX and desktops know every member (their own site's
# first, then the witness, then the other city), with `--clients site` only their own site's nodes,
# so that only the nodes' relaying (docs/design.md, "Relaying") can route around a cut.
# Output in --out (default /tmp/callraft-drill-<time>): history-SITE.jsonl, events.jsonl,
# dump-nodeN.jsonl, check.json, report.txt, report.json, timeline.svg, lab/ (configs and logs).
# Exit 0 only if every node was dumped and the checker finds nothing lost, nothing applied twice
# and no violation, in a history with writes acknowledged before the first fault and after the
# last heal (a drill whose traffic never got through fails: it checked nothing).
# Environment: CALLRAFT_BUILD (default ./build), CALLRAFT_LAB_NS (default crd).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${CALLRAFT_BUILD:-$here/build}
fault=kill-site site=shiraz node=leader clients=all warmup=10 hold=15 settle=10 rate=20 cycles=1 seed=1 layout=2+2+1 loop=()
out=/tmp/callraft-drill-$(date +%Y%m%d-%H%M%S)
while [ $# -gt 0 ]; do
  case "$1" in
    --fault) fault=$2; shift 2;;
    --site) site=$2; shift 2;;
    --node) node=$2; shift 2;;
    --clients) clients=$2; shift 2;;
    --warmup) warmup=$2; shift 2;;
    --hold) hold=$2; shift 2;;
    --settle) settle=$2; shift 2;;
    --rate) rate=$2; shift 2;;
    --cycles) cycles=$2; shift 2;;
    --seed) seed=$2; shift 2;;
    --layout) layout=$2; shift 2;;
    --loopback) loop=(--loopback); shift;;
    --out) out=$2; shift 2;;
    *) sed -n '2,26p' "$0"; exit 2;;
  esac
done
[ "$fault" = link-cut ] && fault=cut-link
case "$clients" in all|site) ;; *) echo "drill: --clients all or site, not '$clients'" >&2; exit 2;; esac
case "$node" in leader|follower|[0-9]*) ;; *) echo "drill: --node leader, follower or an id, not '$node'" >&2; exit 2;; esac
[ "$cycles" -ge 1 ] && [ "$cycles" -le 1000 ] || { echo "drill: --cycles 1..1000" >&2; exit 2; }
# The site-loss scenario (issue 12) is its own script: a scripted center, not random traffic.
[ "$fault" = site-loss ] && exec "$here/deploy/drill/siteloss.sh" --hold "$hold" --out "$out" "${loop[@]}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
export CALLRAFT_BUILD=$build CALLRAFT_LAB=$out/lab CALLRAFT_LAB_NS=${CALLRAFT_LAB_NS:-crd}
export CALLRAFT_PORT_BASE=${CALLRAFT_PORT_BASE:-$((20000 + (RANDOM % 50) * 200))}
LAB=$here/deploy/lab/lab.sh
# The traffic presents the lab's client certificate (lab.sh makes it; TLS is on in the lab).
export CALLRAFT_TLS_CA=$CALLRAFT_LAB/certs/ca.crt CALLRAFT_TLS_CERT=$CALLRAFT_LAB/certs/traffic.crt \
  CALLRAFT_TLS_KEY=$CALLRAFT_LAB/certs/traffic.key
TRAFFIC=$build/callraft-traffic
traffic_pids=()

cleanup() {
  local rc=$?
  for p in "${traffic_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  "$LAB" down >/dev/null 2>&1 || true
  exit $rc
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
event() { # EVENT WHAT [SITE] [T_MS]
  printf '{"t_ms":%s,"event":"%s","what":"%s","site":"%s"}\n' "${4:-$(now_ms)}" "$1" "$2" "${3:-}" >> "$out/events.jsonl"
  echo "drill: $(date +%T) $1 $2"
}
node_status() { # NODE -> "applied commit" as the node itself reports
  "$LAB" exec "$("$LAB" site-of "$1")" "$TRAFFIC" dump --nodes "$("$LAB" addr "$1")" --keys /dev/null \
    --out /dev/stdout 2>/dev/null | python3 -c '
import json,sys
r=[json.loads(l) for l in sys.stdin if l.strip()][-1]; print(r["applied_index"], r["commit_index"])' 2>/dev/null || echo "0 0"
}
max_commit() { local i m=0 c; for i in $("$LAB" nodes); do c=$(node_status "$i" | cut -d' ' -f2); [ "$c" -gt "$m" ] && m=$c; done; echo "$m"; }

# wait_caught_up SITE|all SECONDS: the nodes applied what the cluster had committed when called.
wait_caught_up() {
  local who=$1 limit=$2 target i ok a deadline
  target=$(max_commit)
  deadline=$((SECONDS + limit))
  while [ $SECONDS -lt $deadline ]; do
    ok=1
    for i in $(if [ "$who" = all ]; then "$LAB" nodes; else "$LAB" nodes "$who"; fi); do
      a=$(node_status "$i" | cut -d' ' -f1)
      [ "$a" -ge "$target" ] || { ok=0; break; }
    done
    [ $ok = 1 ] && return 0
    sleep 0.2
  done
  return 1
}

leader_now() { # the leader's id, waiting up to 10 s for an election to end
  local l=0
  for _ in $(seq 1 50); do l=$("$LAB" leader); [ "$l" != 0 ] && break; sleep 0.2; done
  [ "$l" != 0 ] || { echo "drill: no leader to fault" >&2; exit 1; }
  echo "$l"
}

other_site() { [ "$1" = tehran ] && echo shiraz || echo tehran; }

# pause_target SITE: the node --node names (leader; follower: SITE's nodes in turn, the first at the
# first pause, the next at the next one, so that with --clients site every pause hits the node the
# site's clients moved to at the previous one (the other city's if SITE holds the leader); or an id).
pauses=0
pause_target() {
  local l i f=()
  case "$node" in
    leader) leader_now ;;
    follower)
      l=$(leader_now)
      local site=$1
      # The leader's own city: its clients may be on the leader; take the other city's followers.
      [ "$("$LAB" site-of "$l")" = "$site" ] && [ "$site" != witness ] && site=$(other_site "$site")
      for i in $("$LAB" nodes "$site"); do [ "$i" != "$l" ] && f+=("$i"); done
      [ ${#f[@]} -gt 0 ] || { echo "drill: site $1 has no follower to pause" >&2; return 1; }
      echo "${f[$((pauses % ${#f[@]}))]}" ;;
    *) echo "$node" ;;
  esac
}

# inject FAULT SITE: sets hit_site (the site whose clients lose service, if any) and heal_cmd.
inject() {
  local f=$1 s=$2 l
  hit_site="" heal_cmd=""
  [ "$s" = leader ] && s=$("$LAB" site-of "$(leader_now)")
  if [ "$f" = pause ]; then # found before the clock starts, like the site
    l=$(pause_target "$s") || exit 2
    pauses=$((pauses + 1))
  fi
  [ "$f" = cut-link ] && l=$(leader_now) # the report names the city that keeps the leader
  case "$f" in kill-leader|pause-leader) l=$(leader_now) ;; esac # likewise
  local t; t=$(now_ms) # the fault starts now, not when the commands below return
  case "$f" in
    kill-site) "$LAB" kill-site "$s" >/dev/null; hit_site=$s; heal_cmd="restart-site $s" ;;
    restart-site) "$LAB" kill-site "$s" >/dev/null; "$LAB" restart-site "$s" >/dev/null; hit_site=$s; heal_cmd="none" ;;
    cut-site) "$LAB" cut "$s" >/dev/null; hit_site=$s; heal_cmd="heal" ;;
    cut-link) "$LAB" cut-link "$s" "$(other_site "$s")" >/dev/null; heal_cmd="heal"
      s="$s-$(other_site "$s") (leader $l in $("$LAB" site-of "$l"))" ;;
    kill-leader) "$LAB" kill "$l" >/dev/null; heal_cmd="restart $l"; s="node$l" ;;
    pause-leader) "$LAB" pause "$l" >/dev/null; heal_cmd="resume $l"; s="node$l" ;;
    pause) "$LAB" pause "$l" >/dev/null; heal_cmd="resume $l"; s="node$l ($node)" ;;
    *) echo "drill: unknown fault '$f'" >&2; exit 2 ;;
  esac
  event fault "$f $s" "$hit_site" "$t"
}

heal() {
  local healed_site=$1 t
  t=$(now_ms)
  case "$heal_cmd" in
    none) ;;
    heal) "$LAB" heal >/dev/null ;;
    *) "$LAB" $heal_cmd >/dev/null ;;
  esac
  event heal "$heal_cmd" "$healed_site" "$t"
  local t0=$t
  if wait_caught_up "${healed_site:-all}" 60; then
    event caught_up "$(( $(now_ms) - t0 )) ms" "$healed_site"
  else
    event not_caught_up "60 s" "$healed_site"
  fi
}

# ---- plan ----------------------------------------------------------------------------------
faults=() sites_f=() holds=() settles=()
if [ "$fault" = random ]; then
  RANDOM=$seed
  kinds=(kill-site cut-site restart-site kill-leader pause-leader cut-link)
  all_sites=(tehran shiraz witness leader)
  for _ in $(seq 1 "$cycles"); do
    k=${kinds[$((RANDOM % ${#kinds[@]}))]}
    s=${all_sites[$((RANDOM % 4))]}
    [ "$k" = cut-link ] && [ "$s" = witness ] && s=leader
    faults+=("$k"); sites_f+=("$s"); holds+=($((3 + RANDOM % 6))); settles+=($((4 + RANDOM % 4)))
  done
else
  for _ in $(seq 1 "$cycles"); do faults+=("$fault"); sites_f+=("$site"); holds+=("$hold"); settles+=("$settle"); done
fi
total=$warmup
# Each heal waits up to 60 s for the healed site to catch up (wait_caught_up): the traffic must
# outlast the slowest cycles (a loaded machine), and is stopped early once the faults are done.
for i in "${!faults[@]}"; do total=$((total + holds[i] + settles[i] + 70)); done
total=$((total + 5))
echo "drill: $cycles cycle(s) [${faults[*]}] seed $seed; traffic ${rate}/s for at most ${total}s (clients know: $clients); out $out"

# ---- run -----------------------------------------------------------------------------------
"$LAB" up --layout "$layout" "${loop[@]}" | sed 's/^/  /'
rm -f "$out"/history-*.jsonl "$out/events.jsonl"
for s in tehran shiraz; do
  # exec all the way down, so $! is the traffic process itself (stopped by pid below).
  pre=(); [ "$("$LAB" mode)" = ns ] && pre=(ip netns exec "$CALLRAFT_LAB_NS-$s")
  # A PBX knows every member, its own site's first, then the witness, then the other city: when
  # its own nodes cannot reach the leader it writes through whichever member can (issue 12).
  nodes=$("$LAB" cluster "$s")
  [ "$clients" = site ] || for o in witness tehran shiraz; do
    [ "$o" = "$s" ] || { more=$("$LAB" cluster "$o"); [ -z "$more" ] || nodes="$nodes,$more"; }
  done
  (exec "${pre[@]}" "$TRAFFIC" center --cluster "$nodes" --site "$s" \
    --history "$out/history-$s.jsonl" --rate "$(python3 -c "print($rate/2)")" --duration "$total" \
    --seed "$seed" --request-timeout-ms 15000 > "$out/traffic-$s.out" 2>&1) &
  traffic_pids+=($!)
done
event start traffic
sleep "$warmup"
for i in "${!faults[@]}"; do
  inject "${faults[i]}" "${sites_f[i]}"
  sleep "${holds[i]}"
  heal "$hit_site"
  sleep "${settles[i]}"
done
event stop_faults "all healed"
# Traffic stops on its own at its deadline; stop it early once the faults are done.
sleep 3
# SIGTERM lets every actor finish and record its request in flight (bounded by its 15 s deadline).
for p in "${traffic_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for _ in $(seq 1 200); do
  alive=0; for p in "${traffic_pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break; sleep 0.1
done
for p in "${traffic_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
traffic_pids=()
cat "$out"/traffic-*.out 2>/dev/null | grep -v '^$' | tail -n 4 | sed 's/^/  /' || true

# ---- settle and freeze -------------------------------------------------------------------------
for i in $("$LAB" nodes); do
  [ -f "$out/lab/node$i/pid" ] || "$LAB" restart "$i" >/dev/null
  [ -f "$out/lab/node$i/paused" ] && "$LAB" resume "$i" >/dev/null
done
"$LAB" heal >/dev/null
"$LAB" wait-leader 30
wait_caught_up all 60 || echo "drill: WARNING: nodes did not catch up within 60 s"
python3 "$here/deploy/drill/check.py" keys --history "$out"/history-*.jsonl --out "$out/keys.txt" >/dev/null
frozen=0
if [ "$("$LAB" mode)" = ns ]; then
  # Cut every site so nothing more commits (the leader's Ticks included), then read each node at
  # one applied index. Node-local reads still work: a site's own addresses go over its lo.
  for attempt in 1 2 3 4 5; do
    for s in $("$LAB" sites); do "$LAB" cut "$s" >/dev/null; done
    sleep 1.5
    idx=$(for i in $("$LAB" nodes); do node_status "$i" | cut -d' ' -f1; done | sort -u | wc -l)
    if [ "$idx" = 1 ]; then frozen=1; break; fi
    "$LAB" heal >/dev/null; sleep 1
  done
fi
undumped=()
for i in $("$LAB" nodes); do
  "$LAB" exec "$("$LAB" site-of "$i")" "$TRAFFIC" dump --nodes "$("$LAB" addr "$i")" --keys "$out/keys.txt" \
    --out "$out/dump-node$i.jsonl" || { echo "drill: dump of node $i failed"; undumped+=("$i"); rm -f "$out/dump-node$i.jsonl"; }
done
"$LAB" heal >/dev/null
event frozen "$frozen"
set +e
# --events: the checker fails unless writes were acknowledged both before the first fault and
# after the last heal (a drill whose traffic never got through would check nothing).
python3 "$here/deploy/drill/check.py" check --history "$out"/history-*.jsonl --dump "$out"/dump-node*.jsonl \
  --json "$out/check.json" --events "$out/events.jsonl"
check_rc=$?
# A node that could not be dumped was not checked at all: the drill cannot vouch for it.
if [ ${#undumped[@]} -gt 0 ]; then
  echo "drill: FAIL: node(s) ${undumped[*]} not dumped: their state was not checked"
  check_rc=1
fi
python3 "$here/deploy/drill/report.py" --dir "$out" > /dev/null
set -e
cat "$out/report.txt"
echo "drill: report $out/report.txt, $out/report.json, $out/timeline.svg"
exit $check_rc
