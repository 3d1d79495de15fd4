#!/usr/bin/env bash
# GET /metrics (node/http_metrics.c) on a live 1+1+1 cluster: every node's exposition passes
# `promtool check metrics`; figures move as the cluster does (an enqueue raises the queue's waiting
# calls on every node, a login shows the agent in its site, a write through a follower counts as
# forwarded, a refused request counts under its code, killing the leader changes the survivors'
# leader id and term); deploy/prometheus/'s scrape config and alert rules pass promtool.
source "$(dirname "$0")/lib.sh"
command -v promtool >/dev/null || fail "promtool missing: deploy/install-deps.sh installs Debian's prometheus"

step "promtool: the example scrape config and alert rules"
promtool check config "$ROOT/deploy/prometheus/prometheus.yml" >/dev/null
promtool check rules "$ROOT/deploy/prometheus/alerts.yml" >/dev/null

step "start a 1+1+1 cluster"
"$CLUSTER_SH" up 1+1+1 >/dev/null
leader=$(wait_leader)
http_addr() { echo "127.0.0.1:$((CALLRAFT_PORT_BASE + 200 + $1))"; }
# Mutual TLS (the default): the scraper presents a client certificate of the cluster CA.
tls=(); scheme=http
if [ -n "${CALLRAFT_TLS_CERT:-}" ]; then
  tls=(--cacert "$CALLRAFT_TLS_CA" --cert "$CALLRAFT_TLS_CERT" --key "$CALLRAFT_TLS_KEY"); scheme=https
fi
scrape() { curl -sf "${tls[@]}" --max-time 5 "$scheme://$(http_addr "$1")/metrics"; }
# value ID NAME{LABELS}: the sample's value on node ID ("" if absent).
value() { scrape "$1" | awk -v k="$2" '$1 == k { print $2 }'; }
# wait_value ID SAMPLE OP EXPECTED: polls (the body is cached up to 1 s) until `value OP expected`.
wait_value() {
  local deadline=$((SECONDS + 20)) v
  while [ $SECONDS -lt $deadline ]; do
    v=$(value "$1" "$2" || true)
    if [ -n "$v" ] && python3 -c "import sys; sys.exit(0 if float('$v') $3 float('$4') else 1)"; then
      return 0
    fi
    sleep 0.3
  done
  fail "node $1: $2 is '${v:-absent}', expected $3 $4"
}
for id in 1 2 3; do
  for _ in $(seq 50); do scrape "$id" >/dev/null 2>&1 && break; sleep 0.2; done
done

step "promtool check metrics on every node"
for id in 1 2 3; do
  scrape "$id" >"$CALLRAFT_LAB/metrics.$id"
  promtool check metrics <"$CALLRAFT_LAB/metrics.$id" || fail "node $id: promtool check metrics"
  grep -q '^# TYPE callraft_apply_duration_seconds histogram$' "$CALLRAFT_LAB/metrics.$id" ||
    fail "node $id: no apply histogram"
done
[ "$(value "$leader" 'callraft_raft_role{role="leader"}')" = 1 ] || fail "leader $leader does not say leader"
for id in 1 2 3; do wait_value "$id" callraft_raft_leader_id == "$leader"; done
curl -s "${tls[@]}" -o /dev/null -w '%{http_code}' -X POST "$scheme://$(http_addr 1)/metrics" | grep -q 405 ||
  fail "POST /metrics is not 405"

step "an enqueue raises the queue's waiting calls on every node"
follower=$(( leader % 3 + 1 ))
fwd0=$(value "$follower" callraft_forwarded_requests_total)
for i in 1 2; do
  "$CLI" --cluster "$(client_addr "$follower")" call enqueue --call-id m-$i --queue sales --caller +9821555000$i >/dev/null
done
for id in 1 2 3; do
  wait_value "$id" 'callraft_queue_waiting_calls{queue="sales"}' == 2
  wait_value "$id" 'callraft_queue_offered_calls_total{queue="sales"}' == 2
done
wait_value "$follower" callraft_forwarded_requests_total '>=' $((fwd0 + 2))
wait_value "$leader" 'callraft_queue_longest_wait_seconds{queue="sales"}' '>' 0
wait_value "$leader" callraft_commit_duration_seconds_count '>' 0

step "an agent's login shows in its site; an abandon counts"
"$CLI" --cluster "$(cluster)" agent login ag-1 --site tehran --skills sales >/dev/null
wait_value "$leader" 'callraft_site_agents{site="tehran",state="AVAILABLE"}' == 1
"$CLI" --cluster "$(cluster)" call abandon m-1 >/dev/null
wait_value "$leader" 'callraft_queue_waiting_calls{queue="sales"}' == 1
wait_value "$leader" 'callraft_queue_abandoned_calls_total{queue="sales"}' == 1

step "a refused request counts under its code"
nf0=$(value "$leader" 'callraft_replies_total{code="NOT_FOUND"}')
"$CLI" --cluster "$(client_addr "$leader")" call show no-such-call >/dev/null 2>&1 || true
wait_value "$leader" 'callraft_replies_total{code="NOT_FOUND"}' '>=' $((nf0 + 1))

step "killing the leader changes the survivors' leader id and term"
term0=$(value "$follower" callraft_raft_term)
"$CLUSTER_SH" kill "$leader" >/dev/null
new=$(wait_leader "$leader")
for id in 1 2 3; do
  [ "$id" = "$leader" ] && continue
  wait_value "$id" callraft_raft_leader_id == "$new"
  wait_value "$id" callraft_raft_term '>' "$term0"
done
wait_value "$new" 'callraft_raft_role{role="leader"}' == 1
scrape "$new" | promtool check metrics || fail "new leader: promtool check metrics"
echo "PASS"
