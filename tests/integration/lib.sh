# lib.sh: helpers for integration tests with real callraftd processes on loopback.
# Each test sources it with the build dir as $1; every process it starts is stopped on exit.
set -euo pipefail
BUILD=$(cd "${1:?usage: test_x.sh BUILD_DIR}" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export CALLRAFT_BUILD=$BUILD
export CALLRAFT_LAB=$(mktemp -d /tmp/callraft-it.XXXXXX)
# Below the kernel's ephemeral range (32768+), so outgoing connections never hold our ports.
export CALLRAFT_PORT_BASE=${CALLRAFT_PORT_BASE:-$((10000 + (RANDOM % 100) * 200))}
# TLS is on (cluster.sh makes the certificates in $CALLRAFT_LAB/certs at `up`): the tests' CLI and
# traffic present the admin certificate. CALLRAFT_INSECURE=1 runs them on plain TCP instead.
if [ "${CALLRAFT_INSECURE:-0}" != 1 ]; then
  export CALLRAFT_TLS_CA=$CALLRAFT_LAB/certs/ca.crt CALLRAFT_TLS_CERT=$CALLRAFT_LAB/certs/admin.crt \
    CALLRAFT_TLS_KEY=$CALLRAFT_LAB/certs/admin.key
fi
CLI=$BUILD/callraft
TRAFFIC=$BUILD/callraft-traffic
CLUSTER_SH=$ROOT/deploy/cluster.sh

# A failing test prints the node logs' last lines, then its FAIL line again, last: a CI view that
# shows only the end of the output still shows why. CALLRAFT_KEEP_LAB=1 keeps a failed test's lab
# directory (configs, data, node logs) and says where it is.
cleanup() {
  local rc=$?
  [ -z "${PBX_PID:-}" ] || kill "$PBX_PID" 2>/dev/null || true
  "$CLUSTER_SH" down >/dev/null 2>&1 || true
  # A sanitizer's report in any node's log fails the test, even one printed at a clean shutdown
  # (the ASan stage of deploy/test.sh runs the daemons with abort_on_error, but a node that aborts
  # while being stopped does not fail a step by itself).
  local report
  report=$(grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$CALLRAFT_LAB"/node*/log 2>/dev/null | head -1 || true)
  if [ -n "$report" ]; then
    echo "--- sanitizer report in $report:" >&2
    grep -m1 -A 30 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$report" >&2 || true
    [ $rc -ne 0 ] || { rc=1; FAIL_MSG="FAIL: ${0##*/}: sanitizer report in ${report#"$CALLRAFT_LAB"/}"; }
  fi
  if [ $rc -ne 0 ]; then
    echo "--- test failed (rc=$rc); node logs:" >&2
    for f in "$CALLRAFT_LAB"/node*/log; do
      [ -f "$f" ] || continue
      echo "=== $f" >&2
      tail -n 30 "$f" >&2 || true
    done
    if [ "${CALLRAFT_KEEP_LAB:-0}" = 1 ]; then
      echo "--- lab kept: $CALLRAFT_LAB" >&2
    else
      rm -rf "$CALLRAFT_LAB"
    fi
    echo "${FAIL_MSG:-FAIL: ${0##*/} exit status $rc}" >&2
  else
    rm -rf "$CALLRAFT_LAB"
  fi
  exit $rc
}
trap cleanup EXIT
# A command that fails the test without fail() (set -e: errexit on, so the shell exits next; -E:
# also inside functions): its file, line and text (its first line) become the FAIL line.
set -E
trap 'FAIL_RC=$? FAIL_LINE=$LINENO; [[ -n "${FAIL_MSG:-}" || $- != *e* ]] ||
  FAIL_MSG="FAIL: ${BASH_SOURCE[0]##*/} line $FAIL_LINE: exit $FAIL_RC: ${BASH_COMMAND%%$'"'"'\n'"'"'*}"' ERR

fail() { FAIL_MSG="FAIL: ${0##*/}: $*"; echo "FAIL: $*" >&2; exit 1; }

# pbx_heartbeats SITE...: the sites' PBXs say they are alive every second, in the background, as
# deployed PBXs do (docs/routing.md): a site whose only node is killed is then not a dead site.
pbx_heartbeats() {
  ( while true; do
      for s in "$@"; do "$CLI" --cluster "$(cluster)" --timeout 2000 site heartbeat "$s" >/dev/null 2>&1 || true; done
      sleep 1
    done ) &
  PBX_PID=$!
}
# desk_heartbeats AGENT...: the agents' desktops renew their presence (30 s lease by default) every
# 3 s in the background, as deployed ones do, for as long as the test runs (the loop ends by itself
# once the test's shell is gone): a test that outlasts the lease on a loaded machine keeps its agents.
desk_heartbeats() {
  ( while kill -0 $$ 2>/dev/null; do
      for a in "$@"; do "$CLI" --cluster "$(cluster)" --timeout 2000 agent heartbeat "$a" >/dev/null 2>&1 || true; done
      sleep 3
    done ) >/dev/null 2>&1 &
}
step() { echo "--- $*"; }

# start_bg ID BINARY EXIT_FILE [WRAPPER...]: node ID run by BINARY (under WRAPPER, e.g. strace with
# its options, if given) in the background; the daemon's own pid goes to its pid file (the shell
# that writes it execs the daemon), so cluster.sh kill and down stop it and strace -p can attach,
# and its exit code to EXIT_FILE once it ends (with WRAPPER, strace's: the daemon's own).
start_bg() {
  local id=$1 bin=$2 out=$3 dir=$CALLRAFT_LAB/node$1 deadline=$((SECONDS + 10))
  shift 3
  rm -f "$out" "$dir/pid"
  ( rc=0
    "$@" sh -c 'echo $$ > "$1"; shift; exec "$@"' sh "$dir/pid" "$bin" --config "$dir/node.ini" \
      >>"$dir/log" 2>&1 || rc=$?
    echo "$rc" > "$out" ) &
  disown $!
  until [ -s "$dir/pid" ]; do [ $SECONDS -lt $deadline ] || fail "node $id did not start"; sleep 0.1; done
}

# run_control WHAT WANT SCRIPT [VAR=VALUE...]: a negative control. The integration test SCRIPT (in
# this directory) runs with VAR=VALUE... (what takes its check away, WHAT in words); it must fail,
# and by what the check is there to see: a line of its output matching WANT (grep -E). If it passed,
# or failed some other way, the test could not tell its check from none: this test fails.
run_control() {
  local what=$1 want=$2 script=$3 out rc=0
  shift 3
  out=$CALLRAFT_LAB/control.out
  # As ctest runs it: none of this shell's lab and TLS settings (lib.sh makes its own).
  env -u CALLRAFT_LAB -u CALLRAFT_TLS_CA -u CALLRAFT_TLS_CERT -u CALLRAFT_TLS_KEY "$@" \
    bash "$(dirname "${BASH_SOURCE[0]}")/$script" "$BUILD" >"$out" 2>&1 || rc=$?
  grep -E "^(---|FAIL|PASS|FSM|EIO|powercut|write|acknowledged|verify|callraftd:)" "$out" | head -20 || true
  [ $rc -ne 0 ] || fail "$script passed with $what: it cannot see what its check is for"
  grep -qE -- "$want" "$out" ||
    { tail -30 "$out" >&2; fail "$script failed with $what, but not as it must (no line matching '$want')"; }
  echo "control ($what): failed as it must"
}

cluster() { "$CLUSTER_SH" addresses; }
client_addr() { echo "127.0.0.1:$((CALLRAFT_PORT_BASE + 100 + $1))"; }

# json_field KEY: reads `callraft --json status` from stdin.
status_json() { "$CLI" --cluster "${1:-$(cluster)}" --json status; }
leader_id() { status_json "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader_id"])'; }

# leader_site: "ID SITE" of the leader as a node sees it ("0 -" without one).
leader_site() {
  status_json "$@" | python3 -c '
import json,sys
d=json.load(sys.stdin); l=d["leader_id"]
print(l, next((m.get("site") or "-" for m in d["members"] if m["id"]==l), "-"))'
}

# wait_leader [EXCLUDE_ID]: prints the leader's id. A witness that wins an election hands
# leadership to a call-center voter at once (node/home.c; docs/design.md, "Sites and quorum"), so a
# witness leader is taken only if it still leads after 8 s: a test that notes the leader must not
# note one about to step aside (test_tls_hostile and test_clock_jump_forward saw 3 -> 1 that way).
# A leader whose site is not known yet (just after bootstrap the member table, which holds the
# sites, is not applied yet) is treated the same way.
wait_leader() {
  local exclude=${1:-0} deadline=$((SECONDS + 30)) witness_until=0 id site
  while [ $SECONDS -lt $deadline ]; do
    read -r id site < <(leader_site 2>/dev/null || echo "0 -")
    if [ -n "$id" ] && [ "$id" != 0 ] && [ "$id" != "$exclude" ]; then
      case $site in witness|-|"") ;; *) echo "$id"; return 0;; esac
      [ $witness_until -gt 0 ] || witness_until=$((SECONDS + 8))
      [ $SECONDS -lt $witness_until ] || { echo "$id"; return 0; }
    fi
    sleep 0.2
  done
  fail "no leader (other than $exclude) within 30 s"
}

# node_applied ID: the state applied index reported by node ID itself.
node_applied() {
  "$CLI" --cluster "$(client_addr "$1")" --json status 2>/dev/null | python3 -c '
import json,sys
d=json.load(sys.stdin)
for m in d["members"]:
    if m["id"]==d["answered_by"]: print(m.get("applied_index",0)); break
else: print(0)'
}

# wait_caught_up ID...: every node reaches the leader's commit index.
wait_caught_up() {
  local deadline=$((SECONDS + 60)) target a ok addr
  # The highest commit index any node reports of itself: a node that just restarted answers
  # `status` with its own, lower one, and must not set the target (it made this test flaky).
  target=0
  for addr in $(cluster | tr ',' ' '); do
    a=$("$CLI" --cluster "$addr" --timeout 2000 --json status 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["commit_index"])' 2>/dev/null || echo 0)
    [ "${a:-0}" -gt "$target" ] && target=$a
  done
  while [ $SECONDS -lt $deadline ]; do
    ok=1
    for id in "$@"; do
      a=$(node_applied "$id" || echo 0)
      [ "${a:-0}" -ge "$target" ] || ok=0
    done
    [ $ok = 1 ] && return 0
    sleep 0.2
  done
  fail "nodes $* did not reach commit index $target within 60 s"
}

# wait_acks ACK_FILE N: waits (at most 30 s) until N writes are acknowledged in ACK_FILE: a fault is
# injected once writes flow, not after a fixed delay that a loaded machine may not have used.
wait_acks() {
  local deadline=$((SECONDS + 30))
  until [ "$(wc -l 2>/dev/null < "$1" || echo 0)" -ge "$2" ]; do
    [ $SECONDS -lt $deadline ] || fail "fewer than $2 writes acknowledged in 30 s"
    sleep 0.2
  done
}

# wait_log FILE PATTERN: waits (at most 20 s) until FILE has a line matching PATTERN (grep -E),
# e.g. a node's log after a signal; 1 if it never came (the caller fails with its own words).
wait_log() {
  local deadline=$((SECONDS + 20))
  until grep -qE -- "$2" "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

# stop_writes PID ACK_FILE SINCE_MS: once 20 writes are acknowledged after SINCE_MS (the last fault
# healed; at most 30 s), stops the `callraft-traffic write` PID with SIGTERM (each session records
# its request in flight first) and waits for it, instead of waiting out its --duration.
stop_writes() {
  local pid=$1 ack=$2 since=$3 deadline=$((SECONDS + 30))
  until [ "$(awk -v t="$since" '$1 > t' "$ack" | wc -l)" -ge 20 ]; do
    kill -0 "$pid" 2>/dev/null || break # its --duration ended first
    [ $SECONDS -lt $deadline ] || fail "fewer than 20 writes acknowledged in 30 s after $since"
    sleep 0.2
  done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid"
}

# service_gap ACK_FILE KILL_MS: the longest stretch without any acknowledged write that spans or
# follows the kill (within 20 s), and the time from the kill to the first write acknowledged after it.
service_gap() {
  python3 - "$1" "$2" <<'PY'
import sys
acks = sorted(int(l.split()[0]) for l in open(sys.argv[1]) if l.strip())
k = int(sys.argv[2])
before = [a for a in acks if a <= k]
after = [a for a in acks if k < a <= k + 20000]
prev = before[-1] if before else k
gap, pt = 0, prev
for a in after:
    gap = max(gap, a - pt); pt = a
# the first acknowledgement after the longest pause is the first write served by the new leader
print("%d ms without acknowledgements (last before kill %d ms before it; %d acknowledged in 20 s after)" % (gap, k - prev, len(after)))
PY
}
