#!/usr/bin/env bash
# Hostile clients against a running 1+1+1 cluster (issue 13): oversized, truncated and garbage
# frames, a slowloris and an idle connection, pipelined requests whose replies are never read, a
# connection flood beyond the per-source limit (with a forwarded write through it), another
# session's id reused, and a flood of valid writes up to the state quota. Each gets a clear refusal; the nodes keep serving; memory
# stays bounded (the leader's RSS is printed); nothing refused is stored; after the quota flood
# every node restarts and replays (no poison pill), and the documented rolling restart with a
# bigger map and quota makes room again.
# Plain TCP: these are framing and resource limits; TLS refusals are test_tls_hostile.sh's.
export CALLRAFT_INSECURE=1
# Under AddressSanitizer (build-asan) freed memory is held in a quarantine (256 MB by default) to
# catch later uses: 400,000 pipelined requests put ~180 MB of it in the leader's RSS, which the
# 64 MB bounds below would take for the node's own. 16 MB keeps the checks about the node (a plain
# build ignores ASAN_OPTIONS).
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16
source "$(dirname "$0")/lib.sh"
HOSTILE="python3 $(dirname "$0")/hostile.py"
export HOSTILE_PER_SOURCE=64
export CALLRAFT_NODE_INI_EXTRA="[state]\nmap_size_mb = 16\nquota_mb = 2\n\n[client]\nidle_timeout_ms = 3000\nframe_timeout_ms = 2000\nconnections_per_source = $HOSTILE_PER_SOURCE"

step "start a 1+1+1 cluster (map 16 MB, quota 2 MB, short client timeouts)"
"$CLUSTER_SH" up 1+1+1 >/dev/null
leader=$(wait_leader)
follower=$(( leader % 3 + 1 ))
pid=$(cat "$CALLRAFT_LAB/node$leader/pid")
echo "leader: $leader (pid $pid), follower: $follower"
C="$CLI --cluster $(cluster)"
$C call enqueue --call-id pbx-before --queue sales --caller +982155501001 --site tehran >/dev/null
$C ticket open --customer c-witness --category complaint --subject "stored before" >/dev/null
before=$($C --json ticket list --customer c-witness)

rss() { awk '/^VmRSS/ {print $2 " kB"}' "/proc/$pid/status"; }
echo "leader RSS before: $(rss)"
for c in frames slowloris pipeline flood session; do
  step "hostile: $c"
  $HOSTILE "$c" "$(client_addr "$leader")" "$(client_addr "$follower")" "$pid"
  echo "leader RSS after $c: $(rss)"
done
after=$($C --json ticket list --customer c-witness)
[ "$before" = "$after" ] || fail "stored tickets changed under hostile input: $before / $after"
echo "ok: what was stored before is unchanged"

step "hostile: quota (a flood of valid writes)"
$HOSTILE quota "$(client_addr "$leader")" "$(client_addr "$follower")" "$pid"
echo "leader RSS after the quota flood: $(rss)"
rc=0; out=$($C call enqueue --call-id pbx-after --queue sales --caller +982155501002 --site tehran 2>&1) || rc=$?
[ $rc = 1 ] && grep -q RESOURCE_EXHAUSTED <<<"$out" || fail "enqueue at quota: rc $rc: $out"
echo "ok: a new call is refused at the quota: $out"
$C call abandon pbx-before >/dev/null || fail "abandon (moves an existing call along) refused at quota"
echo "ok: a call in progress can still finish at the quota"
$C --json status | python3 -c '
import json, sys
d = json.load(sys.stdin)
alarms = [m.get("alarm", "") for m in d["members"]]
print("status alarms:", alarms)
assert all("quota" in a for a in alarms), alarms'

step "restart every node: each replays the refused writes alike (no poison pill)"
for id in 1 2 3; do "$CLUSTER_SH" kill "$id" KILL >/dev/null; done
sleep 0.5
for id in 1 2 3; do "$CLUSTER_SH" start "$id" >/dev/null; done
wait_leader >/dev/null
wait_caught_up 1 2 3
$C ticket list --customer c-witness >/dev/null || fail "reads after restart"
echo "ok: every node is back and serving"

step "grow the map on the live cluster: rolling restarts, maps (16 -> 64 MiB) first, then quotas (2 -> 16 MiB)"
roll() { # sed-expression: edit each node's config, restart it, wait until all caught up
  for id in 1 2 3; do
    sed -i "$1" "$CALLRAFT_LAB/node$id/node.ini"
    "$CLUSTER_SH" kill "$id" TERM >/dev/null # waits for the node to exit
    "$CLUSTER_SH" start "$id" >/dev/null
    wait_leader >/dev/null
    wait_caught_up 1 2 3
  done
}
roll 's/^map_size_mb = 16/map_size_mb = 64/'
rc=0; $C call enqueue --call-id pbx-map-only --queue sales --caller +982155501003 --site tehran \
  >/dev/null 2>&1 || rc=$?
[ $rc = 1 ] || fail "a bigger map alone must not lift the quota (rc $rc)"
roll 's/^quota_mb = 2/quota_mb = 16/'
$C call enqueue --call-id pbx-grown --queue sales --caller +982155501003 --site tehran >/dev/null ||
  fail "enqueue after growing the map and the quota"
echo "ok: writes are accepted again after the rolling restart"
$C --json status | python3 -c '
import json, sys
alarms = [m.get("alarm", "") for m in json.load(sys.stdin)["members"]]
assert not any(alarms), alarms
print("ok: no alarm left:", alarms)'
echo "PASS"
